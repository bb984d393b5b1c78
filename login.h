/*
 * login.h - the account commands: `llmproxy login ...` and
 * `llmproxy accounts ...`. They block (a browser callback, a device code
 * poll) and run as commands, never on the server's loop.
 */
#ifndef PX_LOGIN_H
#define PX_LOGIN_H

#ifndef PX_LOGIN_TIMEOUT_S
#define PX_LOGIN_TIMEOUT_S 600        /* waiting for the browser or paste */
#endif

/*
 * `llmproxy login claude|codex|gemini|copilot [--name LABEL] [--no-browser]
 *  [--project ID] [--state-dir DIR | -c FILE]`: argv[0] is "login".
 * Claude, Codex and Gemini: OAuth with PKCE through the browser, with the
 * local callback their client uses (or, with --no-browser, the code or
 * redirect URL pasted on stdin); Gemini then finds or onboards the Code
 * Assist project. Copilot: GitHub's device flow, then a Copilot token.
 * Prints who logged in and where the account was stored. Exit status 0,
 * 1 (failed) or 2 (usage).
 */
int px_login_cmd(int argc, char **argv);

/*
 * `llmproxy accounts list [--json]`, `accounts remove LABEL`,
 * `accounts import KIND [--from FILE] [--name LABEL]` (another client's
 * login: Claude Code's ~/.claude/.credentials.json, the Codex CLI's
 * ~/.codex/auth.json, the Gemini CLI's ~/.gemini/oauth_creds.json,
 * Copilot's ~/.config/github-copilot/apps.json), each with
 * [--state-dir DIR | -c FILE]. argv[0] is "accounts".
 */
int px_accounts_cmd(int argc, char **argv);

#endif
