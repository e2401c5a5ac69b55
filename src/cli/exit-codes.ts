// One exit-code scheme for every command, documented in the README ("Exit codes").
/** Something failed while running: the database, a provider, a push that was not delivered. */
export const EXIT_FAILURE = 1;
/** The configuration is invalid (every problem is printed). */
export const EXIT_CONFIG = 2;
/** The command line is wrong: unknown command or option, a missing or malformed argument (sysexits EX_USAGE). */
export const EXIT_USAGE = 64;
