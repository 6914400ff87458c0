package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/billingengine/engine/internal/platform/pgdb"
	"github.com/billingengine/engine/invoices"
)

// JobView is a job as the CLI lists it.
type JobView struct {
	ID          int64           `json:"id"`
	Kind        string          `json:"kind"`
	State       string          `json:"state"`
	Queue       string          `json:"queue"`
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"max_attempts"`
	Args        json.RawMessage `json:"args"`
	CreatedAt   time.Time       `json:"created_at"`
	ScheduledAt time.Time       `json:"scheduled_at"`
	FinalizedAt *time.Time      `json:"finalized_at"`
	// LastError is the error of the last failed attempt, if any.
	LastError string `json:"last_error"`
}

func viewJob(j *rivertype.JobRow) JobView {
	v := JobView{ID: j.ID, Kind: j.Kind, State: string(j.State), Queue: j.Queue, Attempt: j.Attempt, MaxAttempts: j.MaxAttempts,
		Args: json.RawMessage(j.EncodedArgs), CreatedAt: j.CreatedAt.UTC(), ScheduledAt: j.ScheduledAt.UTC(), FinalizedAt: j.FinalizedAt}
	if v.FinalizedAt != nil {
		t := v.FinalizedAt.UTC()
		v.FinalizedAt = &t
	}
	if n := len(j.Errors); n > 0 {
		v.LastError = j.Errors[n-1].Error
	}
	return v
}

// JobStates are the states a job can be listed by.
var JobStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStateCancelled, rivertype.JobStateCompleted, rivertype.JobStateDiscarded,
	rivertype.JobStatePending, rivertype.JobStateRetryable, rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// ListJobs lists jobs, newest first, through River's client.
func ListJobs(ctx context.Context, client *Client, states []rivertype.JobState, kinds []string, limit int) ([]JobView, error) {
	params := river.NewJobListParams().OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(limit)
	if len(states) > 0 {
		params = params.States(states...)
	}
	if len(kinds) > 0 {
		params = params.Kinds(kinds...)
	}
	res, err := client.JobList(ctx, params)
	if err != nil {
		return nil, err
	}
	out := make([]JobView, len(res.Jobs))
	for i, j := range res.Jobs {
		out[i] = viewJob(j)
	}
	return out, nil
}

// ErrJobNotFound is returned for a job id that doesn't exist.
var ErrJobNotFound = errors.New("job not found")

// RetryJob makes a job available again now (River's JobRetry): a discarded
// or cancelled job gets one more attempt; a running one is left alone.
// Every job of the engine is safe to run again.
func RetryJob(ctx context.Context, client *Client, id int64) (JobView, error) {
	j, err := client.JobRetry(ctx, id)
	if errors.Is(err, river.ErrNotFound) {
		return JobView{}, fmt.Errorf("%w: %d", ErrJobNotFound, id)
	}
	if err != nil {
		return JobView{}, err
	}
	return viewJob(j), nil
}

// CancelJob cancels a job (River's JobCancel): a queued one at once, a
// running one when its worker sees the cancellation.
func CancelJob(ctx context.Context, client *Client, id int64) (JobView, error) {
	j, err := client.JobCancel(ctx, id)
	if errors.Is(err, river.ErrNotFound) {
		return JobView{}, fmt.Errorf("%w: %d", ErrJobNotFound, id)
	}
	if err != nil {
		return JobView{}, err
	}
	return viewJob(j), nil
}

// RunReport is a run with what became of it: its invoices by status, its
// jobs by kind and state, and the errors of those that failed.
type RunReport struct {
	*invoices.Run
	// InvoicesByStatus counts the run's invoices: draft, open, processing,
	// paid, void.
	InvoicesByStatus map[string]int `json:"invoices_by_status"`
	// Billed is the total of the invoices the run issued.
	Billed string `json:"billed"`
	// Jobs counts the run's jobs by kind, then state.
	Jobs map[string]map[string]int `json:"jobs"`
	// Failures gave up (discarded, cancelled) or are accounts the run
	// could not bill (kind "account"); Retrying failed and will run again.
	// All carry their last error.
	Failures []JobFailure `json:"failures"`
	Retrying []JobFailure `json:"retrying"`
}

// Report builds a run's report.
func Report(ctx context.Context, db pgdb.DB, runID int64) (*RunReport, error) {
	run, err := invoices.GetRun(ctx, db, runID)
	if err != nil {
		return nil, err
	}
	r := &RunReport{Run: run, InvoicesByStatus: map[string]int{}, Jobs: map[string]map[string]int{},
		Failures: []JobFailure{}, Retrying: []JobFailure{}}
	for _, s := range []string{"draft", "open", "processing", "paid", "void"} {
		r.InvoicesByStatus[s] = 0
	}
	rows, err := db.Query(ctx, `SELECT status, count(*) FROM invoices WHERE run_id = $1 GROUP BY status`, runID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			rows.Close()
			return nil, err
		}
		r.InvoicesByStatus[s] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := db.QueryRow(ctx, `SELECT to_char(coalesce(sum(total), 0), 'FM999999999990.00') FROM invoices WHERE run_id = $1 AND status <> 'draft'`, runID).
		Scan(&r.Billed); err != nil {
		return nil, err
	}
	rows, err = db.Query(ctx, `
		SELECT id, kind, state, coalesce(errors[array_length(errors, 1)]->>'error', '')
		FROM river_job
		WHERE kind IN ('billing_run', 'billing_draft_shard', 'billing_finalize') AND (args->>'run_id')::bigint = $1
		ORDER BY id`, runID)
	if err != nil {
		return nil, err
	}
	all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[JobFailure])
	if err != nil {
		return nil, err
	}
	for _, j := range all {
		if r.Jobs[j.Kind] == nil {
			r.Jobs[j.Kind] = map[string]int{}
		}
		r.Jobs[j.Kind][j.State]++
		switch j.State {
		case "discarded", "cancelled":
			r.Failures = append(r.Failures, j)
		case "retryable":
			r.Retrying = append(r.Retrying, j)
		}
	}
	accounts, err := invoices.RunAccountFailures(ctx, db, runID)
	if err != nil {
		return nil, err
	}
	for _, f := range accounts {
		r.Failures = append(r.Failures, JobFailure{Kind: "account", State: "failed", AccountID: f.AccountID, Error: f.Message})
	}
	return r, nil
}
