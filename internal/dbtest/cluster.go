package dbtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a private Postgres server of one test, which the test may crash
// and restart: the shared server of the other tests is never touched.
type Cluster struct {
	tb     testing.TB
	bindir string
	data   string
	port   int
	runAs  []string // runuser prefix when the test runs as root
	// URL names the cluster's postgres database.
	URL string
}

// NewCluster initialises and starts a cluster in a temporary directory,
// stopped when the test ends. It skips the test when no Postgres server
// binaries are installed (scripts/pg-url installs them).
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	bindir, err := serverBinDir()
	if err != nil {
		tb.Skipf("dbtest: a private cluster needs the Postgres server binaries: %v", err)
	}
	dir, err := os.MkdirTemp("", "dbtest-cluster-")
	if err != nil {
		tb.Fatal(err)
	}
	c := &Cluster{tb: tb, bindir: bindir, data: filepath.Join(dir, "data")}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Skipf("dbtest: running as root and no postgres user to own the cluster: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
		c.runAs = []string{"runuser", "-u", "postgres", "--"}
	}
	if c.port, err = freePort(); err != nil {
		tb.Fatal(err)
	}
	c.pg("initdb", "-D", c.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
	conf := fmt.Sprintf("\nport = %d\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\nfsync = off\nmax_connections = 200\n", c.port, dir)
	f, err := os.OpenFile(filepath.Join(c.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(conf)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		tb.Fatal(err)
	}
	c.start()
	tb.Cleanup(func() { c.pgQuiet("pg_ctl", "-D", c.data, "-m", "immediate", "stop") })
	c.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	return c
}

// CreateDatabase creates an empty database and returns its URL.
func (c *Cluster) CreateDatabase(name string) string {
	c.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL)
	if err != nil {
		c.tb.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		c.tb.Fatal(err)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, name)
}

// Crash stops the server the way a power cut would (immediate mode: no
// checkpoint, every connection cut) and starts it again after down, which
// replays the write-ahead log like any crash recovery.
func (c *Cluster) Crash(down time.Duration) {
	c.tb.Helper()
	c.pg("pg_ctl", "-D", c.data, "-m", "immediate", "-w", "stop")
	time.Sleep(down)
	c.start()
}

func (c *Cluster) start() {
	c.tb.Helper()
	c.pg("pg_ctl", "-D", c.data, "-l", filepath.Join(filepath.Dir(c.data), "server.log"), "-w", "-t", "60", "start")
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, c.runAs...), filepath.Join(c.bindir, name)), args...)
	return exec.Command(argv[0], argv[1:]...)
}

func (c *Cluster) pg(name string, args ...string) {
	c.tb.Helper()
	if out, err := c.command(name, args...).CombinedOutput(); err != nil {
		c.tb.Fatalf("dbtest: %s %v: %v\n%s", name, args, err, out)
	}
}

func (c *Cluster) pgQuiet(name string, args ...string) { _ = c.command(name, args...).Run() }

// serverBinDir finds initdb and pg_ctl: Debian's versioned directories
// first (newest wins), then pg_config's.
func serverBinDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, string(trimNL(out)))
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("no initdb under /usr/lib/postgresql/*/bin or pg_config --bindir")
}

func versionOf(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
