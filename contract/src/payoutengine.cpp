// Dispatcher, settings and admin actions, shared helpers.
#include <payoutengine/payoutengine.hpp>

namespace payoutengine {

settings_row contract::load_settings(int32_t& itr) const {
   settings_table settings(self_, self_.value);
   itr = settings.find(0);
   check(itr >= 0, msg::not_initialized);
   return settings.load(itr);
}

void contract::require_admin() const {
   int32_t itr;
   require_auth(load_settings(itr).admin.value);
}

void contract::bump_revision() {
   settings_table settings(self_, self_.value);
   int32_t itr;
   settings_row s = load_settings(itr);
   ++s.revision;
   settings.modify(itr, self_, s);
}

void contract::setadmin(name newadmin) {
   settings_table settings(self_, self_.value);
   int32_t itr = settings.find(0);
   settings_row s;
   if (itr >= 0) s = settings.load(itr);
   require_auth(s.admin ? s.admin.value : self_.value);
   check(is_account(newadmin.value), msg::admin_not_account);
   s.admin = newadmin;
   ++s.revision;
   if (itr >= 0)
      settings.modify(itr, self_, s);
   else
      settings.emplace(self_, s);
}

void contract::setfee(name feeacc, uint16_t permille) {
   settings_table settings(self_, self_.value);
   int32_t itr;
   settings_row s = load_settings(itr);
   require_auth(s.admin.value);
   check(permille <= max_fee_permille, msg::fee_too_high);
   check(is_account(feeacc.value), msg::fee_account_missing);
   check(feeacc != self_, msg::fee_account_is_contract);
   // Every allowed token: bounded by the admin's own allowtoken calls.
   tokens_table tokens(self_, self_.value);
   for (int32_t t = tokens.lower_bound(0); t >= 0; t = tokens.next(t)) {
      token_row tk = tokens.load(t);
      check(has_balance_row(tk.tkcontract, feeacc, tk.currency), msg::fee_account_no_balance);
   }
   s.feeacc = feeacc;
   s.fee_permille = permille;
   ++s.revision;
   settings.modify(itr, self_, s);
}

void contract::allowtoken(name tkcontract, symbol currency) {
   int32_t settings_itr;
   settings_row s = load_settings(settings_itr);
   require_auth(s.admin.value);
   check(currency.is_valid(), msg::invalid_symbol);
   check(is_account(tkcontract.value), msg::token_contract_missing);
   table<"stat"_n.value, token_stat_row> stat(tkcontract, currency.code().value);
   int32_t stat_itr = stat.find(currency.code().value);
   check(stat_itr >= 0, msg::token_missing);
   check(stat.load(stat_itr).supply.sym == currency, msg::precision_mismatch);
   check(!is_token_allowed(tkcontract, currency), msg::token_already_allowed);
   check(!s.feeacc || has_balance_row(tkcontract, s.feeacc, currency), msg::fee_account_no_balance);

   tokens_table tokens(self_, self_.value);
   uint64_t id = 0;
   if (tokens.last(&id) >= 0) ++id;
   tokens.emplace(s.admin, token_row{id, tkcontract, currency});
   tokens_by_token(self_, self_.value).store(s.admin, id, funds_row::token_key(tkcontract, currency));

   // The contract's own balance row, on its own RAM: deposits then never create it on a payer's
   // RAM, and eosio.token never moves it later. A no-op when it exists.
   char data[8 + 8 + 8];
   datastream ds(data, sizeof(data));
   ds << self_ << currency << self_;
   send_inline_action({self_, "active"_n}, tkcontract, "open"_n, data, ds.tellp());
   bump_revision();
}

void contract::denytoken(name tkcontract, symbol currency) {
   require_admin();
   tokens_by_token by_token(self_, self_.value);
   uint64_t id = 0;
   check(by_token.find(funds_row::token_key(tkcontract, currency), id), msg::token_not_allowed);
   by_token.remove(id);
   tokens_table tokens(self_, self_.value);
   tokens.erase(tokens.find(id));  // the admin gets the RAM back
   bump_revision();
}

void contract::setapproval(datastream& ds, bool approved) {
   require_admin();
   varuint32 n;
   ds >> n;
   check(n.value > 0, msg::no_accounts);
   approvals_table approvals(self_, self_.value);
   pending_index pending(self_, self_.value);
   bool changed = false;
   for (uint32_t i = 0; i < n.value; ++i) {
      name account;
      ds >> account;
      int32_t itr = approvals.find(account.value);
      check(itr >= 0, msg::unknown_recipient);
      approval_row row = approvals.load(itr);
      if (row.approved == uint8_t(approved)) continue;
      // An account holding code is passed over (it stays unapproved and pending): the admin
      // need not read every new account's code hash first, one request each.
      if (approved && has_code(account)) continue;
      row.approved = uint8_t(approved);
      approvals.modify(itr, same_payer, row);  // stays on the booking payer's RAM
      pending.set(account.value, !approved);   // rewritten in place: no RAM moves
      changed = true;
   }
   // The revision tells the daemon that something moved; a batch that changed nothing (all
   // already so, or holding code) does not wake its scans.
   if (changed) bump_revision();
}

int32_t contract::find_funds(name payer, name tkcontract, symbol sym, funds_row& out) const {
   funds_by_token by_token(self_, payer.value);
   uint64_t id = 0;
   if (!by_token.find(funds_row::token_key(tkcontract, sym), id)) return -1;
   funds_table funds(self_, payer.value);
   int32_t itr = funds.find(id);
   out = funds.load(itr);
   return itr;
}

bool contract::has_balance_row(name tkcontract, name account, symbol sym) const {
   return db_find_i64(tkcontract.value, account.value, "accounts"_n.value, sym.code().value) >= 0;
}

bool contract::is_approved(name account) const {
   approvals_table approvals(self_, self_.value);
   int32_t itr = approvals.find(account.value);
   return itr >= 0 && approvals.load(itr).approved != 0;
}

bool contract::is_token_allowed(name tkcontract, symbol sym) const {
   uint64_t id = 0;
   return tokens_by_token(self_, self_.value).find(funds_row::token_key(tkcontract, sym), id);
}

bool contract::has_code(name account) {
   char result[code_hash_result_size];
   uint32_t size = get_code_hash(account.value, 0, result, sizeof(result));
   check(size == sizeof(result), "unexpected get_code_hash result");
   for (uint32_t i = 1 + 8; i < 1 + 8 + 32; ++i) {
      if (result[i] != 0) return true;
   }
   return false;
}

unpayable contract::check_payable(const schedule_row& sched, name account) const {
   // Cheapest first: a table lookup, then the token's table, then the code hash.
   if (!is_approved(account)) return unpayable::unapproved;
   if (!has_balance_row(sched.tkcontract, account, sched.currency.sym))
      return unpayable::no_balance_row;
   if (has_code(account)) return unpayable::has_code;
   return unpayable::no;
}

void contract::revoke_approval(name account) {
   approvals_table approvals(self_, self_.value);
   int32_t itr = approvals.find(account.value);
   approval_row row = approvals.load(itr);
   row.approved = 0;
   approvals.modify(itr, same_payer, row);  // same size, same payer: no RAM moves
   pending_index(self_, self_.value).set(account.value, true);
}

void contract::send_transfer(name tkcontract, name to, asset quantity, string_view memo) {
   char data[8 + 8 + 16 + 5 + max_memo_bytes];
   datastream ds(data, sizeof(data));
   ds << self_ << to << quantity << memo;
   send_inline_action({self_, "active"_n}, tkcontract, "transfer"_n, data, ds.tellp());
}

}  // namespace payoutengine

using namespace payoutengine;

extern "C" [[clang::export_name("apply")]] void apply(uint64_t receiver, uint64_t code,
                                                       uint64_t action) {
   contract c{name(receiver)};

   if (code != receiver) {
      // Notifications: only token transfers matter (deposits). from, to and quantity are the
      // first 32 bytes; the memo is not needed, so only those are read.
      if (action == "transfer"_n.value) {
         char head[32];
         check(read_action_data(head, sizeof(head)) == sizeof(head), "malformed transfer");
         datastream hs(head, sizeof(head));
         name from, to;
         asset quantity;
         hs >> from >> to >> quantity;
         c.on_transfer(name(code), from, to, quantity);
      }
      return;
   }

   datastream ds = action_datastream();

   switch (action) {
      case "newschedule"_n.value: {
         name payer, schedule_name, tkcontract;
         asset currency;
         string_view memo;
         ds >> payer >> schedule_name >> tkcontract >> currency >> memo;
         c.newschedule(payer, schedule_name, tkcontract, currency, memo);
         break;
      }
      case "book"_n.value:
      case "bookm"_n.value: {
         name schedule_name;
         ds >> schedule_name;
         c.book(ds, schedule_name, action == "bookm"_n.value);
         break;
      }
      case "withdraw"_n.value: {
         name payer, tkcontract;
         asset quantity;
         ds >> payer >> tkcontract >> quantity;
         c.withdraw(payer, tkcontract, quantity);
         break;
      }
      case "claim"_n.value: {
         name schedule_name, recipient;
         ds >> schedule_name >> recipient;
         c.claim(schedule_name, recipient);
         break;
      }
      case "runpayouts"_n.value: {
         uint16_t count = 0;
         ds >> count;
         c.runpayouts(count);
         break;
      }
      case "approveacc"_n.value:
         c.setapproval(ds, true);
         break;
      case "unapproveacc"_n.value:
         c.setapproval(ds, false);
         break;
      case "setadmin"_n.value: {
         name newadmin;
         ds >> newadmin;
         c.setadmin(newadmin);
         break;
      }
      case "allowtoken"_n.value:
      case "denytoken"_n.value: {
         name tkcontract;
         symbol currency;
         ds >> tkcontract >> currency;
         if (action == "allowtoken"_n.value)
            c.allowtoken(tkcontract, currency);
         else
            c.denytoken(tkcontract, currency);
         break;
      }
      case "wake"_n.value: {
         name schedule_name;
         ds >> schedule_name;
         c.wake(ds, schedule_name);
         break;
      }
      case "setfee"_n.value: {
         name feeacc;
         uint16_t permille = 0;
         ds >> feeacc >> permille;
         c.setfee(feeacc, permille);
         break;
      }
      default:
         check(false, msg::unknown_action);
   }
}
