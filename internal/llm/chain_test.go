package llm

import (
	"context"
	"slices"
	"testing"
)

func TestChain_RunsTheFirstMiddlewareOutermostAndSkipsNil(t *testing.T) {
	var trace []string
	mark := func(name string) Middleware {
		return func(next Call) Call {
			return func(ctx context.Context, req Request) (Response, error) {
				trace = append(trace, name+">")
				resp, err := next(ctx, req)
				trace = append(trace, "<"+name)
				return resp, err
			}
		}
	}
	model := func(context.Context, Request) (Response, error) {
		trace = append(trace, "model")
		return Response{Text: "ok"}, nil
	}
	resp, err := Chain(model, mark("a"), nil, mark("b"), passThrough)(context.Background(), Request{})
	if err != nil || resp.Text != "ok" {
		t.Fatalf("got %+v, %v", resp, err)
	}
	want := []string{"a>", "b>", "model", "<b", "<a"}
	if !slices.Equal(trace, want) {
		t.Errorf("trace = %v, want %v", trace, want)
	}
}
