package notify

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/wneessen/go-mail"
)

// Outgoing is a message to hand over, with its Message-ID and a file name
// for a FileMailer.
type Outgoing struct {
	Msg       *mail.Msg
	MessageID string
	Name      string
}

// Mailer hands messages to a mail server, calling done(i, err) as soon as
// the i-th message's outcome is known (err nil once the server accepted
// it), in order, once per message: the outbox records each before the next
// is sent, so a killed worker resends at most the message in flight.
type Mailer interface {
	Send(ctx context.Context, msgs []Outgoing, done func(i int, err error))
}

// SMTPMailer sends through an SMTP server (BILLING_SMTP_URL=smtp://…):
// STARTTLS when the server offers it, authentication when a user is given.
type SMTPMailer struct {
	Host           string
	Port           int
	User, Password string
	// Timeout bounds the connection and each command (30 s when zero).
	Timeout time.Duration
}

// Send sends msgs on one connection. If the connection fails, every
// message has its error.
func (m *SMTPMailer) Send(ctx context.Context, msgs []Outgoing, done func(i int, err error)) {
	fail := func(err error) {
		for i := range msgs {
			done(i, err)
		}
	}
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	opts := []mail.Option{mail.WithPort(m.Port), mail.WithTLSPolicy(mail.TLSOpportunistic), mail.WithTimeout(timeout)}
	if m.User != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(m.User), mail.WithPassword(m.Password))
	}
	c, err := mail.NewClient(m.Host, opts...)
	if err != nil {
		fail(err)
		return
	}
	if err := c.DialWithContext(ctx); err != nil {
		fail(fmt.Errorf("connecting to the SMTP server %s:%d: %w", m.Host, m.Port, err))
		return
	}
	defer c.Close() //nolint:errcheck // each message's outcome is already known
	for i, o := range msgs {
		done(i, c.Send(o.Msg))
	}
}

// FileMailer writes each message as an .eml file in Dir
// (BILLING_SMTP_URL=file://DIR), for demos and tests: the same message is
// the same file.
type FileMailer struct{ Dir string }

// Send writes msgs, each to a temporary file renamed into place.
func (m *FileMailer) Send(_ context.Context, msgs []Outgoing, done func(i int, err error)) {
	if err := os.MkdirAll(m.Dir, 0o755); err != nil {
		for i := range msgs {
			done(i, err)
		}
		return
	}
	for i, o := range msgs {
		path := filepath.Join(m.Dir, o.Name)
		tmp := path + ".tmp"
		if err := o.Msg.WriteToFile(tmp); err != nil {
			done(i, err)
			continue
		}
		done(i, os.Rename(tmp, path))
	}
}
