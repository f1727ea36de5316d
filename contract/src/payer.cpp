// Payer actions: schedules, deposits, bookings, withdrawals.
#include <payoutengine/payoutengine.hpp>

namespace payoutengine {

void contract::newschedule(name payer, name schedule_name, name tkcontract, asset currency,
                           string_view memo) {
   require_auth(payer.value);
   int32_t settings_itr;
   load_settings(settings_itr);
   check(bool(schedule_name), msg::empty_schedule_name);
   schedules_table schedules(self_, self_.value);
   check(!schedules.exists(schedule_name.value), msg::schedule_exists);
   check(currency.sym.is_valid(), msg::invalid_symbol);
   check(is_token_allowed(tkcontract, currency.sym), msg::token_not_allowed);
   check(memo.size <= max_memo_bytes, msg::memo_too_long);

   schedule_row s;
   s.schedule_name = schedule_name;
   s.payer = payer;
   s.tkcontract = tkcontract;
   s.currency = asset{0, currency.sym};
   s.memo.size = memo.size;
   memcpy(s.memo.data, memo.data, memo.size);
   schedules.emplace(payer, s);

   // The payer's funds row for this token: its existence is what makes deposits acceptable.
   funds_row f;
   if (find_funds(payer, tkcontract, currency.sym, f) < 0) {
      funds_table funds(self_, payer.value);
      uint64_t last_id = 0;
      f.id = funds.last(&last_id) >= 0 ? last_id + 1 : 0;
      f.tkcontract = tkcontract;
      f.currency = f.dues = f.deposited = asset{0, currency.sym};
      funds.emplace(payer, f);
      funds_by_token(self_, payer.value).store(payer, f.id, f.by_token());
   }
   bump_revision();
}

void contract::on_transfer(name tkcontract, name from, name to, asset quantity) {
   if (to != self_ || from == self_) return;  // forwarded notification, or our own payment
   check(quantity.amount > 0, msg::deposit_not_positive);
   check(is_token_allowed(tkcontract, quantity.sym), msg::token_not_allowed);
   funds_row f;
   int32_t itr = find_funds(from, tkcontract, quantity.sym, f);
   check(itr >= 0, msg::no_schedule_for_token);

   int32_t settings_itr;
   settings_row s = load_settings(settings_itr);
   // ceil(amount * permille / 1000): rounded up, so no deposit goes without its fee. The
   // product fits: amount < 2^62, permille <= 5.
   int64_t fee = (quantity.amount * int64_t(s.fee_permille) + 999) / 1000;
   int64_t credit = quantity.amount - fee;
   check(credit > 0, msg::deposit_too_small);
   check(f.deposited.amount <= asset::max_amount - credit, msg::deposit_overflow);
   f.deposited.amount += credit;
   funds_table(self_, from.value).modify(itr, same_payer, f);
   if (fee > 0) {
      // The fee account could have closed its row since allowtoken: never bill the contract.
      check(has_balance_row(tkcontract, s.feeacc, quantity.sym), msg::fee_account_no_balance);
      static constexpr char fee_memo[] = "payoutengine deposit fee";
      send_transfer(tkcontract, s.feeacc, asset{fee, quantity.sym},
                    string_view{fee_memo, sizeof(fee_memo) - 1});
   }
   bump_revision();
}

void contract::book(datastream& ds, name schedule_name, bool with_memo) {
   schedules_table schedules(self_, self_.value);
   schedule_row sched;
   check(schedules.get(schedule_name.value, sched), msg::unknown_schedule);
   name payer = sched.payer;
   require_auth(payer.value);

   varuint32 n;
   ds >> n;
   check(n.value > 0, msg::no_records);

   recipients_table recipients(self_, schedule_name.value);
   dues_table dues(self_, schedule_name.value);
   approvals_table approvals(self_, self_.value);
   pending_index pending(self_, self_.value);
   ready_index ready(self_, schedule_name.value);
   bool any_ready = false;  // a raised due that is payable now
   funds_row f;
   int32_t funds_itr = find_funds(payer, sched.tkcontract, sched.currency.sym, f);
   int64_t free_funds = f.deposited.amount - f.dues.amount;
   int64_t raised = 0;  // sum of new dues in this action; never above free_funds

   for (uint32_t i = 0; i < n.value; ++i) {
      name recipient;
      asset new_total;
      string_view memo;
      ds >> recipient >> new_total;
      if (with_memo) ds >> memo;
      check(new_total.sym == sched.currency.sym, msg::symbol_mismatch);
      check(new_total.amount >= 0 && new_total.amount <= asset::max_amount,
            msg::total_out_of_range);
      check(memo.size <= max_memo_bytes, msg::memo_too_long);

      recipient_row rec;
      int32_t rec_itr = recipients.find(recipient.value);
      if (rec_itr >= 0) rec = recipients.load(rec_itr);
      uint64_t new_amount = uint64_t(new_total.amount);
      if (new_amount <= rec.booked_total) continue;  // not an increase: nothing changes

      check(is_account(recipient.value), msg::recipient_missing);
      check(recipient != self_, msg::recipient_is_contract);
      int64_t increase = int64_t(new_amount - rec.booked_total);
      check(increase <= free_funds - raised, msg::exceeds_free_funds);
      raised += increase;

      rec.account = recipient;
      rec.booked_total = new_amount;
      if (rec_itr >= 0)
         recipients.modify(rec_itr, payer, rec);
      else
         recipients.emplace(payer, rec);

      // A first booking creates the account's approval row, unapproved (its `pending` flag
      // on): nothing more to check.
      bool known = approvals.exists(recipient.value);
      if (!known) {
         approvals.emplace(payer, approval_row{recipient, 0});
         pending.store(payer, recipient.value, true);
      }
      unpayable why = known ? check_payable(sched, recipient) : unpayable::unapproved;
      if (why == unpayable::has_code) revoke_approval(recipient);
      bool payable = why == unpayable::no;
      any_ready = any_ready || payable;

      due_row due;
      int32_t due_itr = dues.find(recipient.value);
      if (due_itr >= 0) {
         if (payable) ready.set(recipient.value, true);
         // Still unpaid from an earlier booking: only bookm replaces the memo.
         if (with_memo) {
            due = dues.load(due_itr);
            due.memo.size = memo.size;
            memcpy(due.memo.data, memo.data, memo.size);
            dues.modify(due_itr, payer, due);
         }
      } else {
         due.account = recipient;
         due.memo.size = memo.size;
         memcpy(due.memo.data, memo.data, memo.size);
         dues.emplace(payer, due);
         ready.store(payer, recipient.value, payable);
      }
   }
   check(raised > 0, msg::no_total_raised);

   // The ring gets the schedule only when something in it can be paid now: bookings of
   // unpayable dues (however many schedules) never slow down runpayouts.
   bool ring_it = any_ready && is_token_allowed(sched.tkcontract, sched.currency.sym);
   active_table active(self_, self_.value);
   ring_index ring(self_, self_.value);
   if (!active.exists(schedule_name.value)) {
      active.emplace(payer, active_row{schedule_name, name()});
      ring.store(payer, schedule_name.value, ring_it);
   } else if (ring_it) {
      ring.set(schedule_name.value, true);
   }

   check(f.dues.amount <= asset::max_amount - raised, msg::booking_overflow);
   f.dues.amount += raised;
   funds_table(self_, payer.value).modify(funds_itr, payer, f);
   bump_revision();
}

void contract::withdraw(name payer, name tkcontract, asset quantity) {
   require_auth(payer.value);
   check(quantity.sym.is_valid() && quantity.amount > 0 && quantity.is_amount_within_range(),
         msg::quantity_not_positive);
   funds_row f;
   int32_t itr = find_funds(payer, tkcontract, quantity.sym, f);
   check(itr >= 0, msg::no_funds_in_token);
   check(quantity.amount <= f.deposited.amount - f.dues.amount, msg::withdraw_exceeds_free);
   check(is_token_allowed(tkcontract, quantity.sym), msg::token_suspended);
   // eosio.token bills a missing balance row to the sender: the contract. Never.
   check(has_balance_row(tkcontract, payer, quantity.sym), msg::payer_no_balance_row);
   f.deposited.amount -= quantity.amount;
   funds_table(self_, payer.value).modify(itr, payer, f);
   static constexpr char withdraw_memo[] = "payoutengine withdrawal";
   send_transfer(tkcontract, payer, quantity,
                 string_view{withdraw_memo, sizeof(withdraw_memo) - 1});
   bump_revision();
}

}  // namespace payoutengine
