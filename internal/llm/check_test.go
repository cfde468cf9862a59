package llm

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

func TestCheckModel_SaysWhetherTheAPIListsTheModel(t *testing.T) {
	var auth, path string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, path = r.Header.Get("Authorization"), r.Method+" "+r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"object":"list","data":[{"id":"counsellor","object":"model"},{"id":"another","object":"model"}]}`))
	}))
	defer api.Close()

	c := CheckModel(context.Background(), OpenAIConfig{BaseURL: api.URL + "/v1", APIKey: "sk-key", Model: "counsellor"})
	if c.Err != nil || !c.Served || !slices.Equal(c.Listed, []string{"another", "counsellor"}) {
		t.Errorf("got %+v, want both listed and the model served", c)
	}
	if auth != "Bearer sk-key" || path != "GET /v1/models" {
		t.Errorf("the API was asked %q with %q, want GET /v1/models with the key", path, auth)
	}
	if c := CheckModel(context.Background(), OpenAIConfig{BaseURL: api.URL + "/v1", Model: "gpt-typo"}); c.Err != nil || c.Served || len(c.Listed) != 2 {
		t.Errorf("a model not listed: got %+v, want the list and not served", c)
	}
}

func TestCheckModel_TellsARefusedKeyFromAnAPIWithNoList(t *testing.T) {
	for _, tt := range []struct {
		name                              string
		status                            int
		body                              string
		misconfigured, noList, keyRefused bool
	}{
		{"OpenAI, a wrong key", 401, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`, true, false, true},
		{"OpenAI, a restricted key that may not list models", 401, `{"error":{"message":"You have insufficient permissions for this operation. Missing scopes: api.model.read.","type":"invalid_request_error","param":null,"code":null}}`, true, false, false},
		{"LiteLLM, a key it does not know", 401, `{"error":{"message":"Authentication Error, Invalid proxy server token passed.","type":"auth_error","param":"None","code":"401"}}`, true, false, true},
		{"LiteLLM without a database, a key it does not know", 400, `{"error":{"message":"No connected db.","type":"no_db_connection","param":null,"code":"400"}}`, true, false, true},
		{"a proxy's 403 that says nothing", 403, `forbidden`, true, false, false},
		{"a server of chat completions alone", 404, `404 page not found`, true, true, false},
		{"a server down", 503, `{"error":{"message":"overloaded"}}`, false, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer api.Close()
			c := CheckModel(context.Background(), OpenAIConfig{BaseURL: api.URL, APIKey: "sk-key"})
			if c.Err == nil || Misconfigured(c.Err) != tt.misconfigured || NoList(c.Err) != tt.noList || KeyRefused(c.Err) != tt.keyRefused || c.Listed != nil {
				t.Errorf("got %+v (Misconfigured %v, NoList %v, KeyRefused %v), want an error, Misconfigured %v, NoList %v, KeyRefused %v",
					c, Misconfigured(c.Err), NoList(c.Err), KeyRefused(c.Err), tt.misconfigured, tt.noList, tt.keyRefused)
			}
		})
	}
}

func TestCheckModel_ReportsAListItCannotRead(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`<html>a login page</html>`))
	}))
	defer api.Close()
	if c := CheckModel(context.Background(), OpenAIConfig{BaseURL: api.URL, APIKey: "sk-key"}); c.Err == nil || Misconfigured(c.Err) || NoList(c.Err) {
		t.Errorf("got %+v, want an error that is neither the settings' nor a missing list", c)
	}
}
