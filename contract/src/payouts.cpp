// Payments: claim and the round-robin runpayouts.
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

   dues_table dues(self_, schedule_name.value);
   dues.erase(due_itr);  // the payer gets this row's RAM back
   if (dues.lower_bound(0) < 0) {
      active_table active(self_, self_.value);
      active.erase(active.find(schedule_name.value));
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
   check(has_balance_row(sched.tkcontract, recipient, sched.currency.sym), msg::no_balance_row);
   dues_table dues(self_, schedule_name.value);
   int32_t due_itr = dues.find(recipient.value);
   pay(sched, rec_itr, rec, due_itr, dues.load(due_itr));
   bump_revision();
}

bool contract::visit(const schedule_row& sched, int32_t active_itr, active_row& act,
                     uint32_t& skips, bool& fully_scanned) {
   dues_table dues(self_, sched.schedule_name.value);
   active_table active(self_, self_.value);
   uint64_t start = act.cursor.value;
   int32_t itr = dues.lower_bound(start);
   bool wrapped = false;
   fully_scanned = false;

   for (uint32_t walked = 0; walked < walk_per_visit && skips < max_skips_per_call; ++walked) {
      if (itr < 0) {  // past the last due: wrap around once
         if (wrapped || start == 0) {
            fully_scanned = true;
            break;
         }
         wrapped = true;
         itr = dues.lower_bound(0);
         if (itr < 0) {  // cannot happen while the schedule is active; never walk an end
            fully_scanned = true;
            break;
         }
      }
      uint64_t next_key = 0;
      int32_t next = db_next_i64(itr, &next_key);
      due_row due = dues.load(itr);
      name account = due.account;
      if (wrapped && account.value >= start) {  // back where this visit started
         fully_scanned = true;
         break;
      }
      if (is_approved(account) && has_balance_row(sched.tkcontract, account, sched.currency.sym)) {
         // Save the cursor first: pay() erases this active row when it pays the last due.
         act.cursor = name(account.value + 1);
         active.modify(active_itr, same_payer, act);
         recipients_table recipients(self_, sched.schedule_name.value);
         int32_t rec_itr = recipients.find(account.value);
         recipient_row rec = recipients.load(rec_itr);
         pay(sched, rec_itr, rec, itr, due);
         return true;
      }
      ++skips;
      itr = next;
   }
   // Nothing paid: the next visit resumes where this one stopped.
   act.cursor = itr >= 0 ? dues.load(itr).account : name();
   active.modify(active_itr, same_payer, act);
   return false;
}

void contract::runpayouts(uint16_t count) {
   check(count > 0, msg::count_not_positive);
   settings_table settings(self_, self_.value);
   int32_t settings_itr;
   settings_row s = load_settings(settings_itr);
   active_table active(self_, self_.value);
   schedules_table schedules(self_, self_.value);

   uint32_t payments = 0;
   uint32_t skips = 0;
   schedule_row sched;  // the schedule visited last (schedules never change)
   name first_idle;  // first schedule of the current run of fully scanned, unpayable visits
   bool nothing_payable = false;

   while (payments < count && skips < max_skips_per_call) {
      // Next active schedule after the one served last, wrapping around.
      int32_t act_itr = active.lower_bound(s.rr_cursor.value + 1);
      if (act_itr < 0) act_itr = active.lower_bound(0);
      if (act_itr < 0) {
         nothing_payable = true;  // no schedule has any due
         break;
      }
      active_row act = active.load(act_itr);
      if (first_idle && act.schedule_name == first_idle) {
         nothing_payable = true;  // went round every schedule without finding a payable due
         break;
      }
      if (sched.schedule_name != act.schedule_name) schedules.get(act.schedule_name.value, sched);
      s.rr_cursor = act.schedule_name;

      bool fully_scanned = false;
      if (visit(sched, act_itr, act, skips, fully_scanned)) {
         ++payments;
         first_idle = name();
      } else if (fully_scanned) {
         if (!first_idle) first_idle = act.schedule_name;
      } else {
         first_idle = name();  // more to look at in this schedule next time
      }
   }
   check(payments > 0 || !nothing_payable, msg::nothing_to_pay);
   ++s.revision;
   settings.modify(settings_itr, self_, s);
}

}  // namespace payoutengine
