package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestUsersCreateGeneratesAPasswordOnceAndListsTheUser(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	var out bytes.Buffer
	if err := run(ctx, []string{"init", "--data", dir}, &out); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"accounts", "create", "acme", "--type", "team", "--data", dir}, &out); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"users", "create", "--account", "acme", "--email", "Ada@Acme.io", "--role", "auditor", "--data", dir, "--json"}, &out); err != nil {
		t.Fatal(err)
	}
	var created struct{ ID, Email, Role, Password string }
	if err := json.Unmarshal(out.Bytes(), &created); err != nil {
		t.Fatalf("%v: %s", err, out.Bytes())
	}
	if created.Email != "ada@acme.io" || created.Role != "auditor" || len(created.Password) < 20 {
		t.Fatalf("created %+v", created)
	}
	out.Reset()
	if err := run(ctx, []string{"users", "list", "--account", "acme", "--data", dir}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ada@acme.io") || strings.Contains(out.String(), created.Password) {
		t.Fatalf("list: %s", out.String())
	}
	err := run(ctx, []string{"users", "create", "--account", "acme", "--email", "ada@acme.io", "--role", "member", "--data", dir}, &out)
	if err == nil {
		t.Fatal("a second user with the same email was created")
	}
	if err := run(ctx, []string{"users", "create", "--account", "acme", "--email", "bob@acme.io", "--role", "boss", "--data", dir}, &out); err == nil {
		t.Fatal("an unknown role was accepted")
	}
}
