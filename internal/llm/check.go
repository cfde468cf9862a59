package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/openai/openai-go/v3/option"
)

// ModelCheck is what CheckModel found out about an API's models.
type ModelCheck struct {
	// Listed holds the ids of the models the API listed, sorted; nil when it listed none.
	Listed []string
	// Served reports whether the configured model is among them.
	Served bool
	// Err says why there is no list: a *StatusError when the API answered with an error (see
	// Misconfigured, and NoList), else what the transport or the decoding of the list said.
	Err error
}

// CheckModel asks the API configured by cfg which models it serves (GET models, with cfg's
// key and headers), once, so that a process can say at its start whether its base URL, key
// and model are right, rather than each client's first sentence finding out. It makes no chat
// completion and spends no tokens.
func CheckModel(ctx context.Context, cfg OpenAIConfig) ModelCheck {
	cfg = cfg.withDefaults()
	client, err := cfg.client()
	if err != nil {
		return ModelCheck{Err: err}
	}
	var (
		raw      *http.Response
		contents []byte
	)
	if err := client.Get(ctx, "models", nil, &contents, option.WithResponseInto(&raw)); err != nil {
		if raw != nil && raw.StatusCode >= http.StatusBadRequest {
			return ModelCheck{Err: &StatusError{Status: raw.StatusCode, Header: raw.Header, Err: err, Body: bodyStart(raw)}}
		}
		return ModelCheck{Err: fmt.Errorf("list the models: %w", err)}
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(contents, &list); err != nil {
		return ModelCheck{Err: fmt.Errorf("list the models: %w: %w", ErrMalformedResponse, err)}
	}
	var c ModelCheck
	for _, m := range list.Data {
		c.Listed = append(c.Listed, m.ID)
		c.Served = c.Served || m.ID == cfg.Model
	}
	slices.Sort(c.Listed)
	return c
}

// NoList reports whether err, CheckModel's, is an API that has no list of models to give (it
// answered 404, 405 or 501 there): many OpenAI-compatible servers serve chat completions
// alone, and then nothing is known of the model until it is called.
func NoList(err error) bool {
	se, ok := errors.AsType[*StatusError](err)
	return ok && (se.Status == http.StatusNotFound || se.Status == http.StatusMethodNotAllowed || se.Status == http.StatusNotImplemented)
}
