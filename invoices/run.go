package invoices

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// RunState is where a billing run is. It is billing.RunState, which
// documents each value and its transitions; the names here stay so that
// callers move to billing's at their own pace.
type RunState = billing.RunState

const (
	RunPending    = billing.RunStatePending    // created, not planned yet
	RunDrafting   = billing.RunStateDrafting   // shards are rating usage into drafts
	RunFinalizing = billing.RunStateFinalizing // drafts are becoming invoices
	RunCompleted  = billing.RunStateCompleted
)

// ErrRunNotFound is returned for a run id that doesn't exist.
var ErrRunNotFound = errors.New("billing run not found")

// Run is a billing run and its progress. TimeZone and the period's bounds
// [PeriodStart, PeriodEnd) are fixed when the run is created, in its
// creator's billing time zone; every worker bills the run with them,
// whatever its own BILLING_TIMEZONE.
type Run struct {
	ID                int64      `json:"id"`
	Period            string     `json:"period"`
	TimeZone          string     `json:"time_zone"`
	PeriodStart       time.Time  `json:"period_start"`
	PeriodEnd         time.Time  `json:"period_end"`
	AccountIDs        []string   `json:"account_ids"`
	ScheduleKey       *string    `json:"schedule_key"`
	RequestedBy       string     `json:"requested_by"`
	State             RunState   `json:"state"`
	ShardsTotal       int        `json:"shards_total"`
	ShardsDone        int        `json:"shards_done"`
	AccountsTotal     int        `json:"accounts_total"`
	AccountsDrafted   int        `json:"accounts_drafted"`
	InvoicesDrafted   int        `json:"invoices_drafted"`
	InvoicesFinalized int        `json:"invoices_finalized"`
	CreatedAt         time.Time  `json:"created_at"`
	StartedAt         *time.Time `json:"started_at"`
	FinishedAt        *time.Time `json:"finished_at"`
}

// RunParams describe a run to create.
type RunParams struct {
	Period billing.Period
	// AccountIDs limits the run to these accounts; nil bills every account.
	AccountIDs []string
	// ScheduleKey makes the run unique: a second run with the same key is
	// not created, the first one is returned.
	ScheduleKey string
	// RequestedBy says who asked: "cli", "api", "schedule", "job".
	RequestedBy string
	// Location is the billing time zone, in which the period must have
	// ended (required), and which the run stores with its bounds: it must
	// be a named zone (time.LoadLocation's, not time.Local), so that any
	// worker can load it again. Now is the instant the end is checked at
	// (zero: the current time).
	Location *time.Location
	Now      time.Time
}

// scope is the run's accounts as stored: nil for every account. An empty
// list means every account too (SPEC §9), never none.
func (p RunParams) scope() []string {
	if len(p.AccountIDs) == 0 {
		return nil
	}
	return p.AccountIDs
}

// checkEnded refuses a period that has not ended yet (SPEC §3).
func (p RunParams) checkEnded() error {
	if p.Location == nil {
		return errors.New("invoices: RunParams.Location is required")
	}
	now := p.Now
	if now.IsZero() {
		now = time.Now()
	}
	return p.Period.CheckEnded(now, p.Location)
}

// zoneName is the name the run stores for p.Location. A worker loads it
// again with time.LoadLocation, so a zone that has no such name (time.Local,
// a time.FixedZone) is refused rather than stored under a name that means
// another zone, or none, on another host.
func (p RunParams) zoneName() (string, error) {
	name := p.Location.String()
	// LoadLocation takes "" for UTC and "Local" for time.Local: neither
	// names the creator's zone on another host.
	if loc, err := time.LoadLocation(name); err != nil || name == "" || name == "Local" || !sameZone(loc, p.Location, p.Period) {
		return "", fmt.Errorf("invoices: the billing time zone %q is not a named zone (such as UTC or Europe/Paris) that a worker can load", name)
	}
	return name, nil
}

// sameZone reports whether a and b give p the same bounds: a FixedZone
// named like an IANA zone ("Europe/Paris", +01:00) does not.
func sameZone(a, b *time.Location, p billing.Period) bool {
	as, ae := p.Bounds(a)
	bs, be := p.Bounds(b)
	return as.Equal(bs) && ae.Equal(be)
}

// RunLocation loads the billing time zone a run was created in.
func RunLocation(name string) (*time.Location, error) {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("the run's time zone %q: %w", name, err)
	}
	return loc, nil
}

// CreateRun records a new run. With a ScheduleKey already used, it returns
// the existing run and created = false. A period that has not ended is
// refused with a *billing.PeriodNotEndedError.
func CreateRun(ctx context.Context, tx pgx.Tx, p RunParams) (run *Run, created bool, err error) {
	if err := p.checkEnded(); err != nil {
		return nil, false, err
	}
	var key *string
	if p.ScheduleKey != "" {
		key = &p.ScheduleKey
	}
	zone, err := p.zoneName()
	if err != nil {
		return nil, false, err
	}
	// The bounds are computed here, once, in the creator's zone: the
	// workers that draft and finalize the run read them instead of
	// computing them in theirs.
	start, end := p.Period.Bounds(p.Location)
	ids := p.scope()
	var id int64
	err = tx.QueryRow(ctx, `
		INSERT INTO billing_runs (period, account_ids, schedule_key, requested_by, time_zone, period_start, period_end)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (schedule_key) DO NOTHING
		RETURNING id`, p.Period.String(), ids, key, p.RequestedBy, zone, start, end).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		if err := tx.QueryRow(ctx, `SELECT id FROM billing_runs WHERE schedule_key = $1`, key).Scan(&id); err != nil {
			return nil, false, err
		}
		run, err := GetRun(ctx, tx, id)
		return run, false, err
	}
	if err != nil {
		return nil, false, err
	}
	run, err = GetRun(ctx, tx, id)
	return run, true, err
}

// GetRun returns a run and its progress.
func GetRun(ctx context.Context, q pgdb.Executor, id int64) (*Run, error) {
	var r Run
	err := q.QueryRow(ctx, `
		SELECT id, period, account_ids, schedule_key, requested_by, time_zone, period_start, period_end, state, shards_total, shards_done,
		       accounts_total, accounts_drafted, invoices_drafted, invoices_finalized, created_at, started_at, finished_at
		FROM billing_runs WHERE id = $1`, id).
		Scan(&r.ID, &r.Period, &r.AccountIDs, &r.ScheduleKey, &r.RequestedBy, &r.TimeZone, &r.PeriodStart, &r.PeriodEnd, &r.State, &r.ShardsTotal, &r.ShardsDone,
			&r.AccountsTotal, &r.AccountsDrafted, &r.InvoicesDrafted, &r.InvoicesFinalized, &r.CreatedAt, &r.StartedAt, &r.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %d", ErrRunNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	r.CreatedAt = r.CreatedAt.UTC()
	// In UTC like every instant of the JSON; time_zone names the zone.
	r.PeriodStart, r.PeriodEnd = r.PeriodStart.UTC(), r.PeriodEnd.UTC()
	return &r, nil
}

// Shard is a range of accounts drafted by one job.
type Shard struct {
	Shard    int
	Accounts int
}

// PlanRun cuts the run's accounts (those in scope without a non-void
// invoice for the period yet: a rerun bills only what isn't billed) into
// shards of about shardSize accounts, ordered by id. It moves the run to
// drafting, or straight to completed when there is nothing to bill. Planning
// an already planned run returns its shards again.
func PlanRun(ctx context.Context, tx pgx.Tx, runID int64, shardSize int) ([]Shard, error) {
	if shardSize < 1 {
		return nil, fmt.Errorf("shard size %d is below 1", shardSize)
	}
	var state RunState
	var period string
	var ids []string
	if err := tx.QueryRow(ctx, `SELECT state, period, account_ids FROM billing_runs WHERE id = $1 FOR UPDATE`, runID).
		Scan(&state, &period, &ids); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("%w: %d", ErrRunNotFound, runID)
		}
		return nil, err
	}
	if state == RunPending {
		_, err := tx.Exec(ctx, `
			INSERT INTO billing_run_shards (run_id, shard, first_id, last_id, accounts)
			SELECT $1, rn / $4, min(id), max(id), count(*)
			FROM (SELECT a.id, (row_number() OVER (ORDER BY a.id) - 1) AS rn
			      FROM accounts a
			      WHERE ($3::text[] IS NULL OR a.id = ANY($3))
			        AND NOT EXISTS (SELECT 1 FROM invoices i
			                        WHERE i.account_id = a.id AND i.period = $2 AND i.status <> 'void')) s
			GROUP BY rn / $4`, runID, period, ids, shardSize)
		if err != nil {
			return nil, fmt.Errorf("planning run %d: %w", runID, err)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE billing_runs r SET
			    shards_total = s.n, accounts_total = s.accounts, started_at = now(),
			    state = CASE WHEN s.n = 0 THEN 'completed' ELSE 'drafting' END,
			    finished_at = CASE WHEN s.n = 0 THEN now() END
			FROM (SELECT count(*)::int AS n, coalesce(sum(accounts), 0)::int AS accounts
			      FROM billing_run_shards WHERE run_id = $1) s
			WHERE r.id = $1`, runID); err != nil {
			return nil, err
		}
	}
	rows, err := tx.Query(ctx, `SELECT shard, accounts FROM billing_run_shards WHERE run_id = $1 ORDER BY shard`, runID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Shard, error) {
		var s Shard
		return s, r.Scan(&s.Shard, &s.Accounts)
	})
}

// RunInFlightError refuses a run while another one of the same period and
// an overlapping scope is not finished: the new run would find nothing
// more to bill for the accounts the other one covers, and both would
// compete for them.
type RunInFlightError struct {
	Run *Run
}

func (e *RunInFlightError) Error() string {
	scope := "all accounts"
	if e.Run.AccountIDs != nil {
		scope = "accounts " + strings.Join(e.Run.AccountIDs, ", ")
		if len(e.Run.AccountIDs) > 5 {
			scope = fmt.Sprintf("%d accounts", len(e.Run.AccountIDs))
		}
	}
	return fmt.Sprintf("run %d for %s (%s) is still %s (%d of %d shards drafted, %d of %d invoices finalized): "+
		"wait for it to finish (billing runs show %d); if it is stuck, retry its failed jobs (billing jobs list --state discarded)",
		e.Run.ID, e.Run.Period, scope, e.Run.State, e.Run.ShardsDone, e.Run.ShardsTotal, e.Run.InvoicesFinalized, e.Run.InvoicesDrafted, e.Run.ID)
}

// StartRunChecked creates a run like CreateRun, unless a run of the same
// period whose scope overlaps p's is still in flight: then it returns a
// *RunInFlightError. A transaction-scoped advisory lock per period makes
// the check and the creation one step for every caller that uses it.
func StartRunChecked(ctx context.Context, tx pgx.Tx, p RunParams) (*Run, error) {
	if err := p.checkEnded(); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('billing_run:' || $1, 0))`, p.Period.String()); err != nil {
		return nil, err
	}
	ids := p.scope()
	var busy int64
	err := tx.QueryRow(ctx, `
		SELECT id FROM billing_runs
		WHERE period = $1 AND state <> 'completed' AND (account_ids IS NULL OR $2::text[] IS NULL OR account_ids && $2::text[])
		ORDER BY id LIMIT 1`, p.Period.String(), ids).Scan(&busy)
	if err == nil {
		run, err := GetRun(ctx, tx, busy)
		if err != nil {
			return nil, err
		}
		return nil, &RunInFlightError{Run: run}
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	run, _, err := CreateRun(ctx, tx, p)
	return run, err
}

// ListRuns returns the most recent runs first.
func ListRuns(ctx context.Context, q pgdb.Executor, limit int) ([]*Run, error) {
	rows, err := q.Query(ctx, `SELECT id FROM billing_runs ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	runs := make([]*Run, 0, len(ids))
	for _, id := range ids {
		r, err := GetRun(ctx, q, id)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return runs, nil
}
