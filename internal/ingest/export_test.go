package ingest

import (
	"context"
	"io"
	"sync"

	"github.com/billingengine/engine/internal/platform/pgdb"
)

// ImportUsageStaged imports usage through the staging path only.
func ImportUsageStaged(ctx context.Context, db pgdb.DB, r io.Reader, o Options) (*Result, error) {
	return run(ctx, db, r, usageSpec, o)
}

var pathMu sync.Mutex
var pathsTaken = map[string][]bool{}

func init() {
	usagePath = func(name string, fast bool) {
		pathMu.Lock()
		defer pathMu.Unlock()
		pathsTaken[name] = append(pathsTaken[name], fast)
	}
}

// UsagePaths returns the paths (true: fast) of the usage imports named
// name so far. Tests name their imports uniquely.
func UsagePaths(name string) []bool {
	pathMu.Lock()
	defer pathMu.Unlock()
	return append([]bool(nil), pathsTaken[name]...)
}
