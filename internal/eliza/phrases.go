package eliza

// goodbyeLines close a conversation.
var goodbyeLines = []string{
	"Goodbye. Thank you for talking with me.",
	"Take care of yourself. Goodbye.",
	"It was good to talk with you. Farewell.",
	"Goodbye for now. Come back whenever you like.",
}

// silenceLines answer input with no words in it at all.
var silenceLines = []string{
	"You have not said anything yet. What is on your mind?",
	"Take your time. What would you like to talk about?",
	"I am listening whenever you are ready.",
}

// fallbackLines answer sentences no rule recognises.
var fallbackLines = []string{
	"Please go on.",
	"I see. Can you say a little more about that?",
	"How does that make you feel?",
	"What does that suggest to you?",
	"Why do you bring that up?",
	"Let us stay with that for a moment. What else comes to mind?",
}

// introOpeners start an introduction; {name} is replaced with the name.
var introOpeners = []string{
	"Hello, {name}. I am Eliza, a small program that listens.",
	"Welcome, {name}. My name is Eliza, and I am here to listen.",
}

// introBody follows the opener in every introduction.
var introBody = []string{
	"I work by noticing key words in what you say and turning your own words back into questions.",
	"Tell me what is on your mind, one sentence at a time.",
	"Whenever you want to stop, just say goodbye.",
}
