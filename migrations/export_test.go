package migrations

// RefusedForGood is refusedForGood, for tests.
var RefusedForGood = refusedForGood
