package eliza

import "slices"

// rule is a keyword rule: a priority and the decompositions tried, in
// order, when the rule is considered.
type rule struct {
	name     string
	priority int
	decomps  []decomp
}

// decomp is one decomposition pattern with its reassembly templates.
// Templates refer to captured fragments as {1}, {2}, ... in pattern order.
// remember, when set, holds templates for a line saved in the engine's
// memory and used later when nothing else matches.
type decomp struct {
	pattern  []token
	replies  []string
	remember []string
}

func d(pattern string, replies ...string) decomp {
	return decomp{pattern: parsePattern(pattern), replies: replies}
}

func (x decomp) recall(lines ...string) decomp {
	x.remember = lines
	return x
}

// rules is ruleTable ordered from highest to lowest priority; rules of
// equal priority keep their table order.
var rules = byPriority(ruleTable)

func byPriority(rs []rule) []rule {
	out := slices.Clone(rs)
	slices.SortStableFunc(out, func(a, b rule) int { return b.priority - a.priority })
	return out
}

const family = "mother|father|mom|mum|dad|sister|brother|wife|husband|son|daughter|family|parents|children|kids|grandmother|grandfather"

var ruleTable = []rule{
	{"leaving", 9, []decomp{
		d("* bye|goodbye|farewell *",
			"It sounds like you may be getting ready to leave. Just say goodbye on its own when you are done.",
			"Are you thinking of ending our talk? A plain goodbye will do it."),
	}},
	{"i-am", 8, []decomp{
		d("* i am sorry *",
			"There is nothing to apologize for. What is really on your mind?"),
		d("* am i +",
			"Do you believe you are {1}?",
			"Would you like to be {1}?",
			"What would it mean if you were {1}?"),
		d("* i am +",
			"How long have you been {1}?",
			"Why do you tell me you are {1}?",
			"What do you think it means that you are {1}?",
			"Did you come to talk because you are {1}?"),
	}},
	{"cannot", 8, []decomp{
		d("* i cannot +",
			"What makes you think you cannot {1}?",
			"Have you actually tried to {1}?",
			"Perhaps you could {1} if you gave yourself the chance."),
	}},
	{"feel", 7, []decomp{
		d("* i feel +",
			"Tell me more about feeling {1}.",
			"Do you often feel {1}?",
			"When did you first start to feel {1}?"),
		d("* i felt +",
			"What made you feel {1}?",
			"Do you still feel {1}?"),
	}},
	{"want", 7, []decomp{
		d("* i want|need to +",
			"Why do you {1} to {2}?",
			"What would it take for you to {2}?",
			"What would change if you were able to {2}?"),
		d("* i wish +",
			"Why do you wish {1}?",
			"How would things be different if {1}?"),
		d("* i want|need +",
			"Why do you {1} {2}?",
			"What would it mean to you if you got {2}?",
			"What stands between you and {2}?"),
	}},
	{"remember", 7, []decomp{
		d("* i remember +",
			"How often do you find yourself thinking of {1}?",
			"What else comes back when you recall {1}?",
			"Why do you suppose {1} stays with you?"),
		d("* do you remember +",
			"Why should I remember {1}?",
			"What about {1} would you like me to recall?"),
	}},
	{"think", 7, []decomp{
		d("* i think|believe|suppose|guess +",
			"Do you really {1} {2}?",
			"What makes you {1} {2}?",
			"Are you sure {2}?"),
	}},
	{"why-not", 6, []decomp{
		d("* why do not you +",
			"Do you believe I do not {1}?",
			"Would you like me to {1}?"),
		d("* why cannot i +",
			"Do you think you ought to be able to {1}?",
			"What would help you {1}?"),
	}},
	{"you-are", 6, []decomp{
		d("* are you +",
			"Why does it matter to you whether I am {1}?",
			"Would you prefer it if I were not {1}?",
			"Perhaps you imagine I am {1}. Why?"),
		d("* you are +",
			"What makes you think I am {1}?",
			"Does it please you to believe I am {1}?",
			"How long have you felt that I am {1}?"),
	}},
	{"family", 6, []decomp{
		d("* my "+family+" *",
			"Tell me more about your {1}.",
			"How do you get along with your {1}?",
			"Who else in your family comes to mind when you think of your {1}?").
			recall("You mentioned your {1} earlier. How are things between you?"),
	}},
	{"you-me", 5, []decomp{
		d("* you + me *",
			"Why do you think I {1} you?",
			"What makes you feel that I {1} you?",
			"Does anyone else {1} you?"),
	}},
	{"dream", 5, []decomp{
		d("* dream|dreams|dreamed|dreamt|dreaming *",
			"What do your dreams suggest to you?",
			"Do you dream often?",
			"Who tends to appear in your dreams?"),
	}},
	{"machine", 5, []decomp{
		d("* computer|computers|machine|machines|robot|robots|program|programs|ai *",
			"Do machines make you uneasy?",
			"Are you asking because I am a program?",
			"What do you think programs like me are missing?"),
	}},
	{"my", 4, []decomp{
		d("* my +",
			"Tell me more about your {1}.",
			"Why does your {1} matter to you?",
			"How do you feel about your {1}?").
			recall("Earlier you spoke of your {1}. Has anything changed?",
				"Let us go back to your {1}. What else is there to say?"),
	}},
	{"if", 4, []decomp{
		d("* if +",
			"Do you really think it likely that {1}?",
			"What would it mean to you if {1}?",
			"Suppose {1}. What then?"),
	}},
	{"because", 3, []decomp{
		d("* because *",
			"Is that the real reason?",
			"What other reasons come to mind?",
			"Does that explain everything?"),
	}},
	{"absolutes", 3, []decomp{
		d("* always|never|everyone|everybody|nobody|noone *",
			"Really, {1}?",
			"Can you think of a specific example?",
			"Is it truly {1}, or does it just feel that way?"),
	}},
	{"alike", 3, []decomp{
		d("* alike|same|similar|resembles *",
			"In what way?",
			"What resemblance do you see?",
			"What does that similarity suggest to you?"),
	}},
	{"greeting", 2, []decomp{
		d("* hello|hi|hey|greetings *",
			"Hello. What would you like to talk about?",
			"Hi there. How are you feeling today?"),
	}},
	{"sorry", 2, []decomp{
		d("* sorry|apologize|apologise *",
			"There is no need to apologize.",
			"Apologies are not needed here. Please continue.",
			"What makes you feel you should apologize?"),
	}},
	{"yes", 2, []decomp{
		d("yes|yeah|yep|sure *",
			"You seem quite certain.",
			"I see. Tell me more.",
			"What makes you so sure?"),
	}},
	{"no", 2, []decomp{
		d("no|nope|nah *",
			"Why not?",
			"You sound firm about that.",
			"Is that a definite no?"),
	}},
	{"perhaps", 1, []decomp{
		d("* perhaps|maybe|possibly *",
			"You sound unsure.",
			"What makes you hesitate?",
			"Could you say that with more certainty?"),
	}},
	{"question", 1, []decomp{
		d("* why *",
			"Why do you ask?",
			"What answer would satisfy you?",
			"What do you think the reason is?"),
		d("* what|how|who|where|when|which *",
			"Why do you ask?",
			"What answer would you hope for?",
			"What do you think?"),
	}},
	{"you", 1, []decomp{
		d("* you *",
			"We are here to talk about you, not me.",
			"Why are you curious about me?",
			"Let us keep the focus on you."),
	}},
}
