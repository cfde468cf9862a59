package llm

// Token estimate constants: a rough rule for English text, and the chat framing per message.
const (
	bytesPerToken      = 4
	tokensPerMessage   = 4
	defaultAnswerGuess = 256
)

// EstimateTokens guesses the tokens one call for req will use, prompt and answer, for the
// token budget of RateLimit: one token per four bytes of the system prompt, of the history
// turns that will be sent and of the sentence, four more per message for the chat framing,
// plus the answer — MaxCompletionTokens, or 256 when that is unset. It errs on the high side
// for non-English text; the API's own 429s and reset headers correct what it gets wrong.
func (cfg OpenAIConfig) EstimateTokens(req Request) int {
	cfg = cfg.withDefaults()
	history := cfg.recent(req.History)
	n := len(cfg.SystemPrompt) + len(req.Sentence)
	for _, t := range history {
		n += len(t.Content)
	}
	answer := cfg.MaxCompletionTokens
	if answer <= 0 {
		answer = defaultAnswerGuess
	}
	return n/bytesPerToken + tokensPerMessage*(len(history)+2) + answer
}
