package jobs

import (
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/robfig/cron/v3"

	"github.com/billingengine/engine/billing"
)

// DefaultSchedule bills the previous month on the 1st at 00:30.
const DefaultSchedule = "30 0 1 * *"

// catchUpDays is how far into a month a leader that starts late still
// bills the previous month: River's scheduler keeps no state, so a cluster
// that was down at 00:30 on the 1st would otherwise skip a month.
const catchUpDays = 7

// cronSchedule evaluates a cron spec in the billing time zone.
type cronSchedule struct {
	s   cron.Schedule
	loc *time.Location
}

func (c cronSchedule) Next(t time.Time) time.Time { return c.s.Next(t.In(c.loc)) }

// monthlyRun is the periodic job of the monthly run. River's periodic jobs
// are not exactly-once: every new leader starts the schedule over and fires
// RunOnStart again. Exactly-once comes from the run itself: a scheduled
// billing_run is unique per period (its schedule key), and a run only bills
// what isn't billed yet.
func monthlyRun(spec string, loc *time.Location, now func() time.Time) (*river.PeriodicJob, error) {
	s, err := parseSchedule(spec)
	if err != nil {
		return nil, err
	}
	return river.NewPeriodicJob(cronSchedule{s, loc}, func() (river.JobArgs, *river.InsertOpts) {
		args, ok := ScheduledRun(now(), loc)
		if !ok {
			return nil, nil
		}
		return args, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
	}, &river.PeriodicJobOpts{ID: "monthly_billing_run", RunOnStart: true}), nil
}

// ScheduledRun is the run the schedule asks for at t: the previous month,
// as long as t is in the first days of the month.
func ScheduledRun(t time.Time, loc *time.Location) (BillingRunArgs, bool) {
	t = t.In(loc)
	if t.Day() > catchUpDays {
		return BillingRunArgs{}, false
	}
	return BillingRunArgs{Period: billing.PeriodOf(t, loc).Add(-1).String(), Scheduled: true}, true
}

// NextScheduled returns when spec fires next after t in loc (zero for a bad
// spec), for operators and tests.
func NextScheduled(spec string, loc *time.Location, t time.Time) time.Time {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return time.Time{}
	}
	return cronSchedule{s, loc}.Next(t)
}

func parseSchedule(spec string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", spec, err)
	}
	return s, nil
}
