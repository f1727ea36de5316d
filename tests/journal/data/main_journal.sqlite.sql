-- The daemon journal as create_all made it on main at debf1ee (sqlite).
CREATE TABLE payments (
	id INTEGER NOT NULL, 
	tx_id VARCHAR(64) NOT NULL, 
	token VARCHAR(13) NOT NULL, 
	recipient VARCHAR(13) NOT NULL, 
	amount BIGINT NOT NULL, 
	symbol VARCHAR(7) NOT NULL, 
	precision INTEGER NOT NULL, 
	memo TEXT NOT NULL, 
	CONSTRAINT pk_payments PRIMARY KEY (id)
);
CREATE INDEX ix_payments_recipient ON payments (recipient);
CREATE INDEX ix_payments_tx_id ON payments (tx_id);
CREATE TABLE poison (
	id INTEGER NOT NULL, 
	account VARCHAR(13) NOT NULL, 
	detected_at DATETIME NOT NULL, 
	tx_id VARCHAR(64), 
	reason TEXT NOT NULL, 
	CONSTRAINT pk_poison PRIMARY KEY (id)
);
CREATE INDEX ix_poison_account ON poison (account);
CREATE TABLE state (
	"key" VARCHAR(64) NOT NULL, 
	value TEXT NOT NULL, 
	CONSTRAINT pk_state PRIMARY KEY ("key")
);
CREATE TABLE transactions (
	id INTEGER NOT NULL, 
	tx_id VARCHAR(64) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	data TEXT NOT NULL, 
	signed_json TEXT NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	expiration DATETIME NOT NULL, 
	sent_at DATETIME, 
	block_num BIGINT, 
	search_from BIGINT, 
	cpu_usage_us INTEGER, 
	payments INTEGER NOT NULL, 
	send_attempts INTEGER NOT NULL, 
	error TEXT, 
	CONSTRAINT pk_transactions PRIMARY KEY (id)
);
CREATE INDEX ix_transactions_kind ON transactions (kind);
CREATE INDEX ix_transactions_status ON transactions (status);
CREATE UNIQUE INDEX ix_transactions_tx_id ON transactions (tx_id);
