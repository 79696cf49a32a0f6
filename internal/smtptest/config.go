//go:build linux

package smtptest

import (
	"bytes"
	"text/template"
)

// config is exim's configuration for one test server.
type config struct {
	Dir                string
	User               string // exim's own user, who owns the maildir
	TLS                bool
	Username, Password string
}

// eximConfig accepts mail for any address and delivers all of it to one
// maildir. It looks nothing up (no DNS, no ident), so it runs offline.
// The ACLs refuse mail in clear when TLS is on, refuse it unauthenticated
// when a user is set, and refuse the refuse* and later* recipients.
var eximConfig = template.Must(template.New("exim.conf").Delims("[[", "]]").Parse(`# smtptest: written by the test, removed after it
primary_hostname = smtptest.stele.invalid
spool_directory = [[.Dir]]/spool
log_file_path = [[.Dir]]/log/%slog
pid_file_path = [[.Dir]]/exim.pid
keep_environment =
host_lookup =
rfc1413_hosts =
acl_smtp_mail = acl_check_mail
acl_smtp_rcpt = acl_check_rcpt
message_size_limit = 10M
[[- if .TLS]]
tls_advertise_hosts = *
tls_certificate = [[.Dir]]/cert.pem
tls_privatekey = [[.Dir]]/key.pem
[[- else]]
tls_advertise_hosts =
[[- end]]

begin acl

acl_check_mail:
[[- if .TLS]]
  deny    message = 5.7.0 Must issue a STARTTLS command first
          condition = ${if def:tls_in_cipher {no}{yes}}
[[- end]]
[[- if .Username]]
  deny    message = 5.7.0 Authentication required
          !authenticated = *
[[- end]]
  accept

acl_check_rcpt:
  deny    message = 5.1.1 No such mailbox here
          local_parts = ^refuse
  defer   message = 4.2.1 Mailbox busy, try again later
          local_parts = ^later
  accept

begin routers

everyone:
  driver = accept
  transport = maildir

begin transports

maildir:
  driver = appendfile
  directory = [[.Dir]]/maildir
  maildir_format
  envelope_to_add
  return_path_add
  user = [[.User]]

begin authenticators
[[- if .Username]]

plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${if and {{eq{$auth2}{[[.Username]]}}{eq{$auth3}{[[.Password]]}}}}
  server_set_id = $auth2
  server_advertise_condition = ${if def:tls_in_cipher}
[[- end]]
`))

func (c config) render() []byte {
	var b bytes.Buffer
	if err := eximConfig.Execute(&b, c); err != nil {
		panic(err) // the template and its data are this package's own
	}
	return b.Bytes()
}
