package main

import (
	"context"
	"fmt"

	"github.com/stele-audit/stele"
	"github.com/stele-audit/stele/internal/health"
)

// keysChecked is how many accounts' keys beside _system's a readiness
// check unwraps: a wrong master key unwraps none, so a few show it.
const keysChecked = 16

// readiness is what GET /healthz reports: the stores answer (the event
// store and the key store), and the master key unwraps the account keys as the store holds them now (another
// node may rotate them).
func (a *app) readiness() *health.Checker {
	return &health.Checker{Logger: a.logger, Checks: []health.Check{
		{Name: "store", Reason: "the store does not answer", Run: a.pingStores}, // the events' and the keys'

		{Name: "master key", Reason: "the master key does not unwrap the account keys", Run: a.checkKeys},
	}}
}

// checkKeys unwraps the stored keys of _system and of the first accounts
// with the master key.
func (a *app) checkKeys(ctx context.Context) error {
	accts, err := a.db.Accounts(ctx)
	if err != nil {
		return err
	}
	n := 0
	for _, acct := range accts {
		if acct.Name != stele.SystemAccount {
			if n == keysChecked {
				continue
			}
			n++
		}
		if err := a.keyring.Check(ctx, acct.ID); err != nil {
			return fmt.Errorf("account %s: %w", acct.Name, err)
		}
	}
	return nil
}
