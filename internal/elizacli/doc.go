// Package elizacli is the eliza command (cmd/eliza): a terminal client of the front door.
//
//	eliza say SENTENCE...                      Say each sentence; plain answers, for scripts
//	eliza chat [--conversation ID] [--resume]  a queued conversation, line by line
//	eliza usage [--from D] [--to D]            your usage per day, from the front door
//	eliza clients add|list|tier|limits|...     who may call (Postgres at DATABASE_URL)
//	eliza tokens add|list|revoke               their tokens (Postgres at DATABASE_URL)
//
// chat sends each line with Send and follows the conversation with Watch, printing its
// events ("enqueued", replies, errors) in the conversation's order, each once. When the server
// goes away it reconnects with backoff and resumes after the last event it printed, so no
// reply is lost or repeated; the conversation's id and that serial are saved (in the user's
// state directory, a file per token) after every event, and `chat --resume` continues the last
// conversation of the token it is given.
// At the end of input (Ctrl-D, or the end of a pipe) it prints the history of a conversation
// it continues (to the serial a Watch's Eliza-Last-Serial header names) and waits for the
// answers still due, those the saved place kept from the last chat included, then exits (1
// when a line was not queued, an answer due was an error or will not come, the conversation
// asked for is not on the server, or the waits run out); Ctrl-C, SIGINT or SIGTERM exits at
// once. A command used wrongly (a flag or command that names nothing, a wrong number of
// arguments) exits 2.
//
// The server is ELIZA_ADDR (host:port, default localhost:8080), plain HTTP unless --tls
// (HTTPS, verified against the system's roots), with the token of --token or ELIZA_TOKEN sent
// as "Authorization: Bearer" when there is one. The administration commands need no front
// door: they change the clients and tokens in Postgres, and every front door notices within a
// second. A token is printed once, alone on standard output, when it is made. At a terminal, the lines typed are kept as
// line editing's history in the same directory as the saved conversation.
package elizacli
