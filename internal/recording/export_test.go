package recording

// Judgements is how many times l judged a recording on all its signals.
func (l *Ledger) Judgements() int { return l.judgements }
