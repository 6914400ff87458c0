package main

import (
	"os"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

// The worker collects less often than Go's default, unless GOGC is set:
// an operator's GOGC (even GOGC=off) always wins.
func TestWorkerGCPercentUnlessGOGCIsSet(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	t.Setenv("GOGC", "")
	require.NoError(t, os.Unsetenv("GOGC"))
	debug.SetGCPercent(100)
	batchGC()
	require.Equal(t, workerGCPercent, debug.SetGCPercent(100))

	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50) // what the runtime read from GOGC at start
	batchGC()
	require.Equal(t, 50, debug.SetGCPercent(100), "GOGC is the operator's")
}
