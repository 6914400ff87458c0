package testutil

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// MailpitVersion is the SMTP server the email tests send to, built from
// the Go module proxy into the user cache (never installed by hand).
const MailpitVersion = "v1.33.1"

var (
	mailpitOnce sync.Once
	mailpitBin  string
	mailpitErr  error
)

// MailpitBinary returns mailpit, built with `go install` into the user
// cache the first time (scripts/mailpit runs the same binary by hand).
func MailpitBinary() (string, error) {
	mailpitOnce.Do(func() {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir := filepath.Join(cache, "billing-test-tools", "mailpit-"+MailpitVersion)
		p := filepath.Join(dir, "mailpit")
		if _, err := os.Stat(p); err == nil {
			mailpitBin = p
			return
		}
		cmd := exec.Command("go", "install", "github.com/axllent/mailpit@"+MailpitVersion)
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			mailpitErr = fmt.Errorf("building mailpit: %w\n%s", err, out)
			return
		}
		mailpitBin = p
	})
	return mailpitBin, mailpitErr
}

// FreePort is a TCP port on 127.0.0.1 free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close() //nolint:errcheck // only the port was wanted
	return l.Addr().(*net.TCPAddr).Port
}

// Mailpit is a running mailpit: its SMTP port and HTTP API.
type Mailpit struct {
	SMTPPort int
	API      string
	cmd      *exec.Cmd
	cancel   context.CancelFunc
}

// StartMailpit starts mailpit for the test, its SMTP server on smtpPort
// (a free one when 0), and waits until it answers. Stop it with Stop (or
// at the test's end).
func StartMailpit(tb testing.TB, smtpPort int) *Mailpit {
	tb.Helper()
	bin, err := MailpitBinary()
	if err != nil {
		tb.Fatal(err)
	}
	if smtpPort == 0 {
		smtpPort = FreePort(tb)
	}
	httpPort := FreePort(tb)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--smtp", "127.0.0.1:"+strconv.Itoa(smtpPort), "--listen", "127.0.0.1:"+strconv.Itoa(httpPort),
		"--database", filepath.Join(tb.TempDir(), "mailpit.db"), "--quiet")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		cancel()
		tb.Fatal(err)
	}
	m := &Mailpit{SMTPPort: smtpPort, API: fmt.Sprintf("http://127.0.0.1:%d", httpPort), cmd: cmd, cancel: cancel}
	tb.Cleanup(m.Stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(m.API + "/api/v1/messages") //nolint:noctx // a test's poll
		if err == nil {
			res.Body.Close() //nolint:errcheck,gosec // a poll
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", smtpPort)); err == nil {
				c.Close() //nolint:errcheck,gosec // a poll
				return m
			}
		}
		if time.Now().After(deadline) {
			tb.Fatal("mailpit did not start within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends mailpit (its SMTP server is then down).
func (m *Mailpit) Stop() {
	if m.cancel != nil {
		m.cancel()
		_ = m.cmd.Wait()
		m.cancel = nil
	}
}

// MailpitMessage is a message as mailpit's list shows it.
type MailpitMessage struct {
	ID        string `json:"ID"`
	MessageID string `json:"MessageID"`
	Subject   string `json:"Subject"`
	To        []struct {
		Address string `json:"Address"`
	} `json:"To"`
	Attachments int `json:"Attachments"`
}

// Messages lists every message mailpit received.
func (m *Mailpit) Messages(tb testing.TB) []MailpitMessage {
	tb.Helper()
	var out struct {
		Messages []MailpitMessage `json:"messages"`
	}
	m.get(tb, "/api/v1/messages?limit=5000", func(r io.Reader) error { return json.NewDecoder(r).Decode(&out) })
	return out.Messages
}

// Raw is a message's source, as the server received it.
func (m *Mailpit) Raw(tb testing.TB, id string) []byte {
	tb.Helper()
	var b []byte
	m.get(tb, "/api/v1/message/"+id+"/raw", func(r io.Reader) (err error) { b, err = io.ReadAll(r); return err })
	return b
}

func (m *Mailpit) get(tb testing.TB, path string, read func(io.Reader) error) {
	tb.Helper()
	res, err := http.Get(m.API + path) //nolint:noctx // a test's read
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close() //nolint:errcheck // read
	if res.StatusCode != http.StatusOK {
		tb.Fatalf("mailpit %s: %s", path, res.Status)
	}
	if err := read(res.Body); err != nil {
		tb.Fatal(err)
	}
}

// MailpitDetail is one message as mailpit parsed it.
type MailpitDetail struct {
	ID, MessageID, Subject, Text, HTML string
	Attachments                        []struct {
		PartID, FileName, ContentType string
	}
}

// Message reads one message as mailpit parsed it.
func (m *Mailpit) Message(tb testing.TB, id string) MailpitDetail {
	tb.Helper()
	var d MailpitDetail
	m.get(tb, "/api/v1/message/"+id, func(r io.Reader) error { return json.NewDecoder(r).Decode(&d) })
	return d
}

// Part downloads an attachment of a message.
func (m *Mailpit) Part(tb testing.TB, id, partID string) []byte {
	tb.Helper()
	var b []byte
	m.get(tb, "/api/v1/message/"+id+"/part/"+partID, func(r io.Reader) (err error) { b, err = io.ReadAll(r); return err })
	return b
}
