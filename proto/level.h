/*
 * level: the closed list of the levels of a leader who gives a 批示
 * (InstructionLevel), each with the label people read and write (省领导).
 * The gateway records the label; the CLI accepts either form.  One table,
 * shared by both sides, so the two can never disagree.
 */
#ifndef MINYI_LEVEL_H
#define MINYI_LEVEL_H

/* The label of a level, e.g. "省领导"; NULL for 0 or an unknown value. */
const char *level_label(int level);
/* The level named by its label, its protocol name (PROVINCIAL_LEADER, any
 * case) or its number; 0 when s names none. */
int level_parse(const char *s);

#endif
