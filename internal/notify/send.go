package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/billingengine/engine/internal/platform/metrics"
	"github.com/billingengine/engine/internal/platform/pgdb"
)

// Timeout is how long a receiver has to answer (SPEC §11).
const Timeout = 15 * time.Second

// Sender posts an endpoint's due deliveries.
type Sender struct {
	HTTP *http.Client
	Log  *slog.Logger
	// PerEndpoint bounds the POSTs in flight to one endpoint (4 when
	// zero): a slow endpoint holds that many connections, not a queue's.
	PerEndpoint int
	// Budget bounds one call of Deliver (10 seconds when zero): it claims
	// no more after it, and what is left is the next call's, so that a job
	// ends within its timeout (a batch started may take Timeout more).
	Budget time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// RetryDelay is the wait after the n-th failed attempt: RetryDelay
	// (SPEC §11's schedule) when nil. Tests shorten it.
	RetryDelay func(n int) time.Duration
}

// Stats is what one Deliver did.
type Stats struct {
	Delivered, Retried, Failed int
	// More: due deliveries were left for the next call.
	More bool
}

// Deliver posts the endpoint's due deliveries, oldest event first, PerEndpoint
// at a time, until none is due or Budget is spent. Each POST is recorded
// as it ends, so a process killed midway loses only the POSTs in flight,
// whose leases run out and which are then sent again: delivery is at least
// once, and receivers deduplicate on webhook-id. A removed endpoint has
// nothing due.
func (s *Sender) Deliver(ctx context.Context, q pgdb.DB, endpointID string) (Stats, error) {
	var st Stats
	ep, err := get(ctx, q, endpointID)
	if errors.Is(err, ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	per, budget := s.PerEndpoint, s.Budget
	if per <= 0 {
		per = 4
	}
	if budget <= 0 {
		budget = 10 * time.Second
	}
	deadline := time.Now().Add(budget)
	// A batch is as many deliveries as are posted at once, so that the
	// lease need only outlast one POST (Timeout) with a margin: a worker
	// killed mid-batch holds its deliveries back that long, no longer.
	batch, lease := per, Timeout+15*time.Second
	for {
		if time.Now().After(deadline) {
			st.More = true
			return st, nil
		}
		msgs, err := claim(ctx, q, endpointID, batch, lease)
		if err != nil || len(msgs) == 0 {
			return st, err
		}
		var mu sync.Mutex
		var firstErr error
		sem := make(chan struct{}, per)
		var wg sync.WaitGroup
		for _, m := range msgs {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				o := s.post(ctx, ep, m)
				// What the receiver said is recorded even if the job's time
				// ran out meanwhile: otherwise it is sent again.
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				state, err := record(rctx, q, m, o, s.now(), s.retryDelay())
				cancel()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					return
				}
				switch state {
				case DeliveryDelivered:
					st.Delivered++
				case DeliveryPending:
					st.Retried++
				case DeliveryFailed:
					st.Failed++
					s.log().WarnContext(ctx, "webhook delivery failed: retries exhausted", "endpoint_id", endpointID, "event_id", m.eventID, "error", o.err)
				}
				metrics.WebhookDeliveries.WithLabelValues(outcomeLabel(state)).Inc()
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return st, firstErr
		}
	}
}

func outcomeLabel(s DeliveryState) string {
	switch s {
	case DeliveryDelivered:
		return "delivered"
	case DeliveryPending:
		return "retry"
	case DeliveryFailed:
		return "failed"
	}
	return string(s)
}

func (s *Sender) retryDelay() func(int) time.Duration {
	if s.RetryDelay != nil {
		return s.RetryDelay
	}
	return RetryDelay
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Sender) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// post sends one message, signed now, and says how it went: a 2xx within
// Timeout delivers.
func (s *Sender) post(ctx context.Context, ep *Endpoint, m message) outcome {
	start := time.Now()
	defer func() { metrics.WebhookLatency.Observe(time.Since(start).Seconds()) }()
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	at := s.now()
	sig, err := Sign(ep.Secret, m.eventID, at, m.body)
	if err != nil {
		return outcome{err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader(m.body))
	if err != nil {
		return outcome{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "billing-engine")
	req.Header.Set(HeaderID, m.eventID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)
	client := s.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return outcome{err: fmt.Errorf("posting to the endpoint: %w", err)}
	}
	defer res.Body.Close() //nolint:errcheck // the answer was read; closing cannot fail it
	// Read a little of the answer, so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode/100 != 2 {
		return outcome{status: res.StatusCode, err: fmt.Errorf("the endpoint answered %s", res.Status)}
	}
	return outcome{status: res.StatusCode}
}
