package app

import (
	"context"

	"github.com/beacon/eventdispatch/internal/access"
)

// openAccess returns what authenticates the front door's calls (AUTH): with AUTH=off every
// caller is the anonymous client and no database is needed; otherwise tokens are looked up in
// the Postgres at url, through a cache that a task of its own keeps in step with it.
func (s *System) openAccess(ctx context.Context, cfg FrontDoor, url string) (*access.Authenticator, error) {
	if cfg.Auth == access.Off {
		return access.NewAuthenticator(access.Off, cfg.AnonymousTier, nil, s.Log), nil
	}
	pool, err := s.pool(ctx, url)
	if err != nil {
		return nil, err
	}
	auth := access.NewAuthenticator(cfg.Auth, cfg.AnonymousTier, access.NewStore(pool), s.Log)
	s.addWork(task("token cache listener", auth.Listen))
	return auth, nil
}
