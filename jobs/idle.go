package jobs

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/internal/platform/pgdb"
)

// Pending counts the jobs that still have to run: available, running (which
// includes jobs orphaned by a killed process until the rescuer retries
// them) and pending, plus scheduled or retryable jobs due within horizon.
// With queues, only theirs.
func Pending(ctx context.Context, db pgdb.DB, horizon time.Duration, queues ...string) (int, error) {
	var n int
	var only []string
	if len(queues) > 0 {
		only = queues
	}
	err := db.QueryRow(ctx, `
		SELECT count(*) FROM river_job
		WHERE (state IN ('available', 'running', 'pending')
		       OR (state IN ('scheduled', 'retryable') AND scheduled_at <= now() + make_interval(secs => $1)))
		  AND ($2::text[] IS NULL OR queue = ANY($2))`, horizon.Seconds(), only).Scan(&n)
	return n, err
}

// WaitIdle returns once no job (of queues, when given) is due within
// horizon, checked twice in a row a poll apart (a finishing job may be
// inserting its successors).
func WaitIdle(ctx context.Context, db pgdb.DB, horizon, poll time.Duration, queues ...string) error {
	quiet := 0
	for {
		n, err := Pending(ctx, db, horizon, queues...)
		if err != nil {
			return err
		}
		if n == 0 {
			quiet++
			if quiet == 2 {
				return nil
			}
		} else {
			quiet = 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

// JobFailure is a job of a run that gave up (discarded or cancelled), or,
// in a run's report, an account the run could not bill (kind "account",
// with AccountID and no job id: the rest of its shard was billed).
type JobFailure struct {
	ID        int64  `json:"id,omitempty"`
	Kind      string `json:"kind"`
	State     string `json:"state"`
	AccountID string `json:"account_id,omitempty" db:"-"` // not a column of the job queries
	Error     string `json:"error"`
}

// RunFailures lists the run's jobs that will not run again.
func RunFailures(ctx context.Context, db pgdb.DB, runID int64) ([]JobFailure, error) {
	rows, err := db.Query(ctx, `
		SELECT id, kind, state, coalesce(errors[array_length(errors, 1)]->>'error', '')
		FROM river_job
		WHERE kind IN ('billing_run', 'billing_draft_shard', 'billing_finalize')
		  AND (args->>'run_id')::bigint = $1 AND state IN ('discarded', 'cancelled')
		ORDER BY id`, runID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[JobFailure])
}
