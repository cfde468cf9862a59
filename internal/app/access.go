package app

import (
	"context"

	"github.com/beacon/eventdispatch/internal/access"
	"github.com/beacon/eventdispatch/internal/gen/connectrpc/eliza/v1/elizav1connect"
)

// openAccess returns what authenticates the front door's calls (AUTH), the quotas, and the
// usage counters. With AUTH=off every caller is the anonymous client and no database is
// needed; otherwise tokens are looked up in the Postgres at url, through a cache that a task
// of its own keeps in step with it. The quotas hold every caller to its limits, the
// anonymous one included; the daily model tokens, and usage, only where there is a database
// (url not empty) to count them in: usage is nil without one.
func (s *System) openAccess(ctx context.Context, cfg FrontDoor, url string) (*access.Authenticator, *access.Quotas, *access.Usage, error) {
	var store *access.Store
	var usage *access.Usage // usage statistics, where there is a database to keep them in
	if url != "" {
		pool, err := s.pool(ctx, url)
		if err != nil {
			return nil, nil, nil, err
		}
		store = access.NewStore(pool)
		usage = access.NewUsage(store, s.Log)
		s.addWork(task("usage counts", usage.Run))
	}
	quotas := access.NewQuotas(cfg.quotas(), store, s.Log).WithUsage(usage)
	limited := []string{
		elizav1connect.ElizaServiceSayProcedure, elizav1connect.ElizaServiceConverseProcedure, elizav1connect.ElizaServiceIntroduceProcedure,
	}
	if cfg.Auth == access.Off {
		return access.NewAuthenticator(access.Off, cfg.AnonymousTier, nil, s.Log).WithQuotas(quotas, limited...).WithUsage(usage), quotas, usage, nil
	}
	auth := access.NewAuthenticator(cfg.Auth, cfg.AnonymousTier, store, s.Log).WithQuotas(quotas, limited...).WithUsage(usage)
	s.addWork(task("token cache listener", auth.Listen))
	return auth, quotas, usage, nil
}
