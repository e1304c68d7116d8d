-- An actor's name and email are terms of their own (field 13, lowercased),
-- posted by each event that carries them, so that the actor filter matches
-- the event's own name or email. actor_names mapped a name to every actor id
-- it was ever seen with, and so matched other actors' events under a shared
-- id. The Go code of this migration (backfillActorNames) posts the terms of
-- the events stored before it.
DROP TABLE actor_names;
