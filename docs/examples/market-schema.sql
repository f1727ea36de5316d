-- A prediction market's tables on MariaDB/MySQL, as payer sync's market example expects them
-- (docs/examples/market-sync.toml; docs/operations.md, "Moving a market's settlement payouts
-- onto the engine"). Amounts are DECIMAL(20,4): tokens with 4 decimals, never floats.
--   mysql -h 127.0.0.1 -u root market < market-schema.sql

CREATE TABLE users (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  -- the Antelope account winnings are paid to; NULL until the user gives one
  chain_account VARCHAR(12) NULL
) ENGINE=InnoDB;

CREATE TABLE markets (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  question VARCHAR(255) NOT NULL,
  winning_outcome VARCHAR(16) NULL,
  closed TINYINT(1) NOT NULL DEFAULT 0,
  settled TINYINT(1) NOT NULL DEFAULT 0
) ENGINE=InnoDB;

CREATE TABLE trades (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT UNSIGNED NOT NULL,
  market_id BIGINT UNSIGNED NOT NULL,
  outcome VARCHAR(16) NOT NULL,
  shares DECIMAL(20,4) NOT NULL,
  status ENUM('PENDING', 'WON', 'LOST') NOT NULL DEFAULT 'PENDING',
  payout DECIMAL(20,4) NOT NULL DEFAULT 0,
  settled_at DATETIME NULL,
  KEY trades_market_status (market_id, status),
  KEY trades_user_status (user_id, status),
  CONSTRAINT trades_user FOREIGN KEY (user_id) REFERENCES users (id),
  CONSTRAINT trades_market FOREIGN KEY (market_id) REFERENCES markets (id)
) ENGINE=InnoDB;

-- the earning wallet: what the market credited each user, with a row per credit
CREATE TABLE wallets (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT UNSIGNED NOT NULL,
  wallet_type ENUM('EARNING', 'DEPOSIT') NOT NULL,
  balance DECIMAL(20,4) NOT NULL DEFAULT 0,
  UNIQUE KEY wallets_user_type (user_id, wallet_type)
) ENGINE=InnoDB;

CREATE TABLE wallet_transactions (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  wallet_id BIGINT UNSIGNED NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  trade_id BIGINT UNSIGNED NOT NULL,
  amount DECIMAL(20,4) NOT NULL,
  balance_before DECIMAL(20,4) NOT NULL,
  balance_after DECIMAL(20,4) NOT NULL,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  UNIQUE KEY wallet_transactions_trade (trade_id)
) ENGINE=InnoDB;

-- Settling a resolved market, all or nothing: the market row and its pending trades are locked,
-- each winning trade is paid shares x 1.0000 into the user's earning wallet (with the wallet's
-- balance before and after), each losing one is marked LOST, and the market is marked settled,
-- in one transaction. A second call for a settled market changes nothing.
--   mysql -h 127.0.0.1 -u root market -e 'CALL settle_market(1)'
DELIMITER //
CREATE PROCEDURE settle_market(IN p_market BIGINT UNSIGNED)
BEGIN
  DECLARE v_settled TINYINT DEFAULT NULL;
  DECLARE v_win VARCHAR(16) DEFAULT NULL;
  DECLARE v_done INT DEFAULT 0;
  DECLARE v_trade, v_user, v_wallet BIGINT UNSIGNED;
  DECLARE v_outcome VARCHAR(16);
  DECLARE v_shares, v_before DECIMAL(20,4);
  DECLARE pending CURSOR FOR
    SELECT id, user_id, outcome, shares FROM trades
    WHERE market_id = p_market AND status = 'PENDING' ORDER BY id FOR UPDATE;
  DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_done = 1;
  DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN ROLLBACK; RESIGNAL; END;

  START TRANSACTION;
  SELECT settled, winning_outcome INTO v_settled, v_win FROM markets WHERE id = p_market FOR UPDATE;
  IF v_settled = 0 AND v_win IS NOT NULL THEN
    OPEN pending;
    each_trade: LOOP
      FETCH pending INTO v_trade, v_user, v_outcome, v_shares;
      IF v_done THEN LEAVE each_trade; END IF;
      IF v_outcome = v_win THEN
        INSERT IGNORE INTO wallets (user_id, wallet_type, balance) VALUES (v_user, 'EARNING', 0);
        SELECT id, balance INTO v_wallet, v_before FROM wallets
          WHERE user_id = v_user AND wallet_type = 'EARNING' FOR UPDATE;
        UPDATE wallets SET balance = balance + v_shares WHERE id = v_wallet;
        INSERT INTO wallet_transactions
          (wallet_id, user_id, trade_id, amount, balance_before, balance_after)
          VALUES (v_wallet, v_user, v_trade, v_shares, v_before, v_before + v_shares);
        UPDATE trades SET status = 'WON', payout = v_shares, settled_at = NOW() WHERE id = v_trade;
      ELSE
        UPDATE trades SET status = 'LOST', payout = 0, settled_at = NOW() WHERE id = v_trade;
      END IF;
    END LOOP;
    CLOSE pending;
    UPDATE markets SET settled = 1, closed = 1 WHERE id = p_market;
  END IF;
  COMMIT;
END //
DELIMITER ;
