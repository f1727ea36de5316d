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
   check(permille < fee_permille_limit, msg::fee_too_high);
   check(permille == 0 || is_account(feeacc.value), msg::fee_account_missing);
   s.feeacc = feeacc;
   s.fee_permille = permille;
   ++s.revision;
   settings.modify(itr, self_, s);
}

void contract::setapproval(datastream& ds, bool approved) {
   require_admin();
   varuint32 n;
   ds >> n;
   check(n.value > 0, msg::no_accounts);
   approvals_table approvals(self_, self_.value);
   for (uint32_t i = 0; i < n.value; ++i) {
      name account;
      ds >> account;
      int32_t itr = approvals.find(account.value);
      check(itr >= 0, msg::unknown_recipient);
      approval_row row = approvals.load(itr);
      if (row.approved == uint8_t(approved)) continue;
      row.approved = uint8_t(approved);
      approvals.modify(itr, same_payer, row);  // stays on the booking payer's RAM
   }
   bump_revision();
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
