-- The payer-sync state as create_all made it on main at debf1ee (postgresql).
CREATE TABLE sync_invalid_names (
	recipient VARCHAR(64) NOT NULL, 
	reason TEXT NOT NULL, 
	permanent BOOLEAN NOT NULL, 
	checked_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	CONSTRAINT pk_sync_invalid_names PRIMARY KEY (recipient)
);
CREATE TABLE sync_journal (
	tx_id VARCHAR(64) NOT NULL, 
	signed TEXT NOT NULL, 
	expiration TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	block_num BIGINT, 
	recipients TEXT NOT NULL, 
	CONSTRAINT pk_sync_journal PRIMARY KEY (tx_id)
);
CREATE TABLE sync_recipient_marks (
	recipient VARCHAR(64) NOT NULL, 
	since TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	pending BOOLEAN NOT NULL, 
	CONSTRAINT pk_sync_recipient_marks PRIMARY KEY (recipient)
);
CREATE TABLE sync_state (
	key VARCHAR(64) NOT NULL, 
	value TEXT NOT NULL, 
	CONSTRAINT pk_sync_state PRIMARY KEY (key)
);
