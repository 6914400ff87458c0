package billing_test

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
)

// machine is one state machine seen through strings, so that the four typed
// machines share one test.
type machine struct {
	states []string
	can    func(from, to string) bool
}

func machineOf[S ~string](all []S, can func(S, S) bool) machine {
	m := machine{can: func(from, to string) bool { return can(S(from), S(to)) }}
	for _, s := range all {
		m.states = append(m.states, string(s))
	}
	return m
}

// machines maps the name a diagram in docs/states.md carries (its %% comment)
// to the machine.
func machines() map[string]machine {
	return map[string]machine{
		"billing.InvoiceStatus": machineOf(billing.AllInvoiceStatuses(), billing.InvoiceStatus.CanBecome),
		"billing.AttemptState":  machineOf(billing.AllAttemptStates(), billing.AttemptState.CanBecome),
		"billing.RewardState":   machineOf(billing.AllRewardStates(), billing.RewardState.CanBecome),
		"billing.RunState":      machineOf(billing.AllRunStates(), billing.RunState.CanBecome),
	}
}

// edges lists every pair the machine allows, as "from --> to".
func (m machine) edges() []string {
	var out []string
	for _, f := range m.states {
		for _, t := range m.states {
			if m.can(f, t) {
				out = append(out, f+" --> "+t)
			}
		}
	}
	return out
}

// TestStateTransitions pins each table: a change to a machine must change
// this list, the diagrams and, for guarded machines, the SQL trigger.
func TestStateTransitions(t *testing.T) {
	t.Parallel()
	want := map[string][]string{
		"billing.InvoiceStatus": {
			"draft --> open", "draft --> paid",
			"open --> processing", "open --> paid", "open --> void",
			"processing --> open", "processing --> paid", "processing --> void",
			"paid --> void",
		},
		"billing.AttemptState": {
			"pending --> succeeded", "pending --> declined", "pending --> processing", "pending --> failed",
			"processing --> succeeded", "processing --> failed",
		},
		"billing.RewardState": {"pending --> applied", "pending --> void"},
		"billing.RunState": {
			"pending --> drafting", "pending --> completed",
			"drafting --> finalizing", "finalizing --> completed",
		},
	}
	for name, m := range machines() {
		require.ElementsMatch(t, want[name], m.edges(), name)
	}
}

func TestStatesAreWellFormed(t *testing.T) {
	t.Parallel()
	for name, m := range machines() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.NotEmpty(t, m.states)
			seen := map[string]bool{}
			for _, s := range m.states {
				require.False(t, seen[s], "%s listed twice", s)
				seen[s] = true
				// Staying put is not a transition: the guards never refuse
				// it, so the table never lists it.
				require.False(t, m.can(s, s), "%s --> %s", s, s)
				// A value that is no state goes nowhere and comes from
				// nowhere.
				require.False(t, m.can(s, "bogus"), "%s --> bogus", s)
				require.False(t, m.can("bogus", s), "bogus --> %s", s)
				require.False(t, m.can("", s), "'' --> %s", s)
			}
			// Every state but the first (where rows start) is reachable.
			for _, to := range m.states[1:] {
				reached := slices.ContainsFunc(m.states, func(from string) bool { return m.can(from, to) })
				if !reached {
					// Rewards are also created applied or credited.
					require.Equal(t, "billing.RewardState", name, "%s is unreachable", to)
					require.Contains(t, []string{"applied", "credited"}, to)
				}
			}
		})
	}
	// The All functions hand out copies: a caller sorting one cannot reorder
	// the machine.
	a := billing.AllInvoiceStatuses()
	a[0] = "scribbled"
	require.Equal(t, billing.InvoiceStatusDraft, billing.AllInvoiceStatuses()[0])
}

var (
	mermaidEdge = regexp.MustCompile(`^\s*(\S+)\s*-->\s*([^:\s]+)`)
	mermaidName = regexp.MustCompile(`^\s*%%\s*(billing\.\w+)\s*$`)
)

// TestStateDiagramsMatchTables reads docs/states.md: each machine has one
// Mermaid diagram whose arrows between states are exactly its table, so the
// documentation cannot drift from the code.
func TestStateDiagramsMatchTables(t *testing.T) {
	t.Parallel()
	f, err := os.Open("../docs/states.md")
	require.NoError(t, err)
	defer f.Close()

	diagrams := map[string][]string{}
	states := map[string][]string{} // every state a diagram names
	var in bool
	var name string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```mermaid"):
			in, name = true, ""
		case in && strings.HasPrefix(line, "```"):
			require.NotEmpty(t, name, "a diagram without a %% billing.Type line")
			in = false
		case in && mermaidName.MatchString(line):
			name = mermaidName.FindStringSubmatch(line)[1]
			_, dup := diagrams[name]
			require.False(t, dup, "two diagrams of %s", name)
			diagrams[name] = []string{}
		case in:
			m := mermaidEdge.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			require.NotEmpty(t, name, "an arrow before the %% billing.Type line: %q", line)
			from, to := m[1], m[2]
			for _, s := range []string{from, to} {
				if s != "[*]" && !slices.Contains(states[name], s) {
					states[name] = append(states[name], s)
				}
			}
			// [*] arrows mark where rows start and end, not transitions.
			if from != "[*]" && to != "[*]" {
				diagrams[name] = append(diagrams[name], from+" --> "+to)
			}
		}
	}
	require.NoError(t, sc.Err())

	ms := machines()
	require.Len(t, diagrams, len(ms))
	for name, m := range ms {
		require.Contains(t, diagrams, name)
		require.ElementsMatch(t, m.edges(), diagrams[name], "docs/states.md, diagram of %s", name)
		require.ElementsMatch(t, m.states, states[name], "docs/states.md, states of %s", name)
	}
}
