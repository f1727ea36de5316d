// Payments: claim, wake and the round-robin runpayouts.
#include <payoutengine/payoutengine.hpp>

namespace payoutengine {

void contract::pay(const schedule_row& sched, int32_t rec_itr, recipient_row& rec,
                   int32_t due_itr, const due_row& due) {
   name schedule_name = sched.schedule_name;
   int64_t amount = int64_t(rec.booked_total - rec.paid_total);

   rec.paid_total = rec.booked_total;
   recipients_table(self_, schedule_name.value).modify(rec_itr, same_payer, rec);

   funds_row f;
   int32_t funds_itr = find_funds(sched.payer, sched.tkcontract, sched.currency.sym, f);
   f.dues.amount -= amount;
   f.deposited.amount -= amount;
   funds_table(self_, sched.payer.value).modify(funds_itr, same_payer, f);

   // Erase the due and its flag entry (the payer gets the RAM back); the last due takes the
   // schedule's active row and ring entry with it.
   dues_table dues(self_, schedule_name.value);
   dues.erase(due_itr);
   ready_index(self_, schedule_name.value).remove(due.account.value);
   if (dues.lower_bound(0) < 0) {
      active_table active(self_, self_.value);
      active.erase(active.find(schedule_name.value));
      ring_index(self_, self_.value).remove(schedule_name.value);
   }

   const memo_string& memo = due.memo.empty() ? sched.memo : due.memo;
   send_transfer(sched.tkcontract, rec.account, asset{amount, sched.currency.sym},
                 string_view{memo.data, memo.size});
}

void contract::claim(name schedule_name, name recipient) {
   schedules_table schedules(self_, self_.value);
   schedule_row sched;
   check(schedules.get(schedule_name.value, sched), msg::unknown_schedule);
   recipients_table recipients(self_, schedule_name.value);
   int32_t rec_itr = recipients.find(recipient.value);
   check(rec_itr >= 0, msg::nothing_due);
   recipient_row rec = recipients.load(rec_itr);
   check(rec.booked_total > rec.paid_total, msg::nothing_due);
   check(is_token_allowed(sched.tkcontract, sched.currency.sym), msg::token_suspended);
   check(has_balance_row(sched.tkcontract, recipient, sched.currency.sym), msg::no_balance_row);
   dues_table dues(self_, schedule_name.value);
   int32_t due_itr = dues.find(recipient.value);
   pay(sched, rec_itr, rec, due_itr, dues.load(due_itr));
   bump_revision();
}

void contract::wake(datastream& ds, name schedule_name) {
   schedules_table schedules(self_, self_.value);
   schedule_row sched;
   check(schedules.get(schedule_name.value, sched), msg::unknown_schedule);
   varuint32 n;
   ds >> n;

   dues_table dues(self_, schedule_name.value);
   ready_index ready(self_, schedule_name.value);
   bool changed = false;
   for (uint32_t i = 0; i < n.value; ++i) {
      name account;
      ds >> account;
      if (!dues.exists(account.value) || ready.is_on(account.value)) continue;
      unpayable why = check_payable(sched, account);
      if (why == unpayable::has_code) {
         revoke_approval(account);
         changed = true;
      }
      if (why == unpayable::no) changed = ready.set(account.value, true) || changed;
   }
   if (is_token_allowed(sched.tkcontract, sched.currency.sym) && ready.any_on())
      changed = ring_index(self_, self_.value).set(schedule_name.value, true) || changed;
   if (changed) bump_revision();
}

void contract::runpayouts(uint16_t count) {
   check(count > 0, msg::count_not_positive);
   settings_table settings(self_, self_.value);
   int32_t settings_itr;
   settings_row s = load_settings(settings_itr);
   active_table active(self_, self_.value);
   ring_index ring(self_, self_.value);
   schedules_table schedules(self_, self_.value);

   uint32_t payments = 0;
   uint32_t parks = 0;  // unpayable dues and schedules taken out of the way: progress too
   schedule_row sched;  // the schedule visited last (schedules never change)

   while (payments < count && parks < max_parks_per_call) {
      // The next ring schedule after the one served last, wrapping around.
      uint64_t next = 0;
      uint64_t from = s.rr_cursor.value + 1;  // 0 after the largest name: wrap
      if (!ring.first_on_from(from, next)) break;
      s.rr_cursor = name(next);
      if (sched.schedule_name.value != next) schedules.get(next, sched);

      if (!is_token_allowed(sched.tkcontract, sched.currency.sym)) {
         ring.set(next, false);  // back when the token is allowed and someone wakes it
         ++parks;
         continue;
      }
      int32_t act_itr = active.find(next);
      active_row act = active.load(act_itr);
      ready_index ready(self_, next);
      uint64_t account = 0;
      if (!ready.first_on_from(act.cursor.value, account)) {
         ring.set(next, false);  // every due parked: nothing to look at until an event
         ++parks;
         continue;
      }
      act.cursor = name(account + 1);  // the next visit starts after this due
      active.modify(act_itr, same_payer, act);

      unpayable why = check_payable(sched, name(account));
      if (why != unpayable::no) {
         ready.set(account, false);
         if (why == unpayable::has_code) revoke_approval(name(account));
         ++parks;
         continue;
      }
      dues_table dues(self_, next);
      int32_t due_itr = dues.find(account);
      recipients_table recipients(self_, next);
      int32_t rec_itr = recipients.find(account);
      recipient_row rec = recipients.load(rec_itr);
      pay(sched, rec_itr, rec, due_itr, dues.load(due_itr));  // may erase act: saved above
      ++payments;
   }
   check(payments > 0 || parks > 0, msg::nothing_to_pay);
   ++s.revision;
   settings.modify(settings_itr, self_, s);
}

}  // namespace payoutengine
