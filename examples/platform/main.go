// Command platform is a small platform that records its activity in
// Stele through the Go client: its own HTTP API under the client's
// middleware, a few users doing what users do, and a clean exit that
// sends everything buffered.
//
//	STELE_URL=http://127.0.0.1:8080 STELE_KEY=stele_key_… go run ./examples/platform
//
// The key needs the events:write scope; the events show in the console's
// Audit Logs page of the key's account.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/client"
)

func main() {
	if err := run(context.Background(), os.Getenv("STELE_URL"), os.Getenv("STELE_KEY")); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, url, key string) error {
	if url == "" || key == "" {
		return errors.New("set STELE_URL (http://127.0.0.1:8080) and STELE_KEY (stele keys create --account NAME --scopes events:write)")
	}
	var refused atomic.Int64
	c, err := client.New(url, key, client.WithUserAgent("example-platform/1.0"),
		client.WithErrorHandler(func(err error) {
			var re *client.RejectedError
			if errors.As(err, &re) {
				refused.Add(1)
			}
			log.Print(err)
		}))
	if err != nil {
		return err
	}

	// The platform's own API, measured by the middleware: its response
	// times reach Stele as system.api_latency events.
	m := c.Middleware(client.MiddlewareConfig{})
	api := httptest.NewServer(m.Handler(routes()))
	defer api.Close()

	// What its users do, recorded as it happens.
	ada := stele.Ref{Type: "user", ID: "u_ada", Name: "Ada Lovelace", Email: "ada@example.com"}
	bob := stele.Ref{Type: "user", ID: "u_bob", Name: "Bob Stone", Email: "bob@example.com"}
	aws := stele.Ref{Type: "aws", ID: "aws-prod-123", Name: "AWS production"}
	scanner := stele.Ref{Type: "service", ID: "scanner", Name: "Cloud scanner"}

	failed := client.LoginFailed(bob, "invalid_password")
	failed.IP = "198.51.100.23"
	events := []stele.Event{
		failed,
		client.Login(ada),
		client.UserCreated(ada, bob, "viewer"),
		client.RoleChanged(ada, bob, "viewer", "admin"),
		client.PermissionsChanged(ada, bob, "billing.read", "granted"),
		client.IntegrationAdded(ada, aws),
		client.FindingGenerated(scanner, aws, client.Finding{ID: "f_1", Rule: "s3_public_bucket", Resource: "arn:aws:s3:::reports", Severity: "high"}),
		client.SettingChanged(ada, "session_timeout_minutes", "30", "60"),
		client.FindingDeleted(scanner, aws, client.Finding{ID: "f_1", Rule: "s3_public_bucket", Resource: "arn:aws:s3:::reports", Severity: "high"}),
		client.Logout(ada),
	}
	for _, e := range events {
		if err := c.Record(ctx, e); err != nil {
			return err
		}
	}

	// Requests to the platform's API: the handler records an event with
	// the request's actor, ip, user agent and request id.
	for _, path := range []string{"/projects/1", "/projects/2", "/projects/missing"} {
		if err := get(ctx, api.URL+path); err != nil {
			return err
		}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, api.URL+"/projects/2", nil)
	req.Header.Set("X-User", "u_ada")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()

	// Stop measuring, then send everything buffered before exiting.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := m.Close(ctx); err != nil {
		return err
	}
	if err := c.Close(ctx); err != nil {
		return err
	}
	if n := refused.Load(); n > 0 {
		return fmt.Errorf("stele refused %d events", n)
	}
	fmt.Printf("recorded %d events and the API's latency in %s\n", len(events)+1, url)
	return nil
}

// routes is the platform's API.
func routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /projects/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "project %s\n", r.PathValue("id"))
	})
	mux.HandleFunc("DELETE /projects/{id}", func(w http.ResponseWriter, r *http.Request) {
		// Once the handler knows who asks, the events it records say so.
		client.SetActor(r.Context(), stele.Ref{Type: "user", ID: r.Header.Get("X-User")})
		e := stele.Event{Action: "project.deleted", Category: stele.CategoryConfiguration, Outcome: stele.OutcomeSuccess,
			Target: &stele.Ref{Type: "project", ID: r.PathValue("id")}, Description: "deleted project " + r.PathValue("id")}
		if err := client.RecordRequest(r.Context(), e); err != nil {
			http.Error(w, "could not record the deletion", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if err == nil && resp.StatusCode >= 500 {
		err = fmt.Errorf("GET %s: %s", url, strings.TrimSpace(resp.Status))
	}
	return err
}
