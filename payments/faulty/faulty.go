// Package faulty wraps a payment processor with injected faults: failures
// before the request leaves (a 500, a refused connection), timeouts after the
// processor has acted (the outcome is lost on the way back) and slowness.
// Tests and the chaos harness use it to prove that retries never charge
// twice and never lose a payment: faults are injected around the real
// processor, not instead of it.
package faulty

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/billingengine/engine/payments"
)

// Config says how often each fault strikes, as probabilities in [0, 1].
type Config struct {
	// Before: the call fails before reaching the processor (a 500).
	Before float64
	// After: the processor acts, then the answer is lost (a timeout).
	After float64
	// Slow: the call takes SlowFor longer.
	Slow    float64
	SlowFor time.Duration
	Seed    uint64
}

// Parse reads "before=0.1,after=0.1,slow=0.2,slow_for=2s,seed=42".
func Parse(s string) (Config, error) {
	c := Config{SlowFor: time.Second, Seed: 1}
	for _, kv := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return c, fmt.Errorf("fault %q: want name=value", kv)
		}
		var err error
		switch k {
		case "before":
			c.Before, err = strconv.ParseFloat(v, 64)
		case "after":
			c.After, err = strconv.ParseFloat(v, 64)
		case "slow":
			c.Slow, err = strconv.ParseFloat(v, 64)
		case "slow_for":
			c.SlowFor, err = time.ParseDuration(v)
		case "seed":
			c.Seed, err = strconv.ParseUint(v, 10, 64)
		default:
			err = errors.New("unknown fault")
		}
		if err != nil {
			return c, fmt.Errorf("fault %q: %w", kv, err)
		}
	}
	return c, nil
}

// Processor injects faults around Next.
type Processor struct {
	Next payments.Processor
	cfg  Config
	mu   sync.Mutex
	rng  *rand.Rand
}

// New wraps next.
func New(next payments.Processor, cfg Config) *Processor {
	return &Processor{Next: next, cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 7))}
}

var _ payments.Processor = (*Processor)(nil)

func (p *Processor) Name() string { return p.Next.Name() }

func (p *Processor) roll() (before, after, slow bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.Float64() < p.cfg.Before, p.rng.Float64() < p.cfg.After, p.rng.Float64() < p.cfg.Slow
}

// ErrInjected marks an injected fault.
var ErrInjected = errors.New("injected fault")

func (p *Processor) Charge(ctx context.Context, req payments.ChargeRequest) (payments.ChargeResult, error) {
	before, after, slow := p.roll()
	if slow {
		select {
		case <-time.After(p.cfg.SlowFor):
		case <-ctx.Done():
			return payments.ChargeResult{}, &payments.TechnicalError{Op: "charge", Err: ctx.Err()}
		}
	}
	if before {
		return payments.ChargeResult{}, &payments.TechnicalError{Op: "charge", Err: fmt.Errorf("%w: HTTP 500", ErrInjected)}
	}
	res, err := p.Next.Charge(ctx, req)
	if err == nil && after {
		return payments.ChargeResult{}, &payments.TechnicalError{Op: "charge", Reached: true, Err: fmt.Errorf("%w: timeout after the processor answered", ErrInjected)}
	}
	return res, err
}

var _ payments.Looker = (*Processor)(nil)

// Lookup asks Next what became of a charge, with the same faults as
// Charge. When Next can't look charges up, the charge is reported not
// found: the caller then resends it with its key, which is as safe.
func (p *Processor) Lookup(ctx context.Context, req payments.ChargeRequest) (payments.ChargeResult, bool, error) {
	before, after, slow := p.roll()
	if slow {
		select {
		case <-time.After(p.cfg.SlowFor):
		case <-ctx.Done():
			return payments.ChargeResult{}, false, &payments.TechnicalError{Op: "lookup", Err: ctx.Err()}
		}
	}
	if before {
		return payments.ChargeResult{}, false, &payments.TechnicalError{Op: "lookup", Err: fmt.Errorf("%w: HTTP 500", ErrInjected)}
	}
	l, ok := p.Next.(payments.Looker)
	if !ok {
		return payments.ChargeResult{}, false, nil
	}
	res, found, err := l.Lookup(ctx, req)
	if err == nil && after {
		return payments.ChargeResult{}, false, &payments.TechnicalError{Op: "lookup", Reached: true, Err: fmt.Errorf("%w: timeout after the processor answered", ErrInjected)}
	}
	return res, found, err
}
