/*
 * vmgate — reading a new password for vmgatectl: from the terminal without
 * echo (asked twice), or one line from standard input for scripts.
 *
 * The password lives in a buffer of its own that vg_ctl_password_free
 * wipes; no stdio buffer ever holds it (input is read with read(2)).
 */
#ifndef VG_CTL_PASSWORD_H
#define VG_CTL_PASSWORD_H

/** Longest password read, in bytes (vmgated enforces its own, smaller, limit). */
#define VG_CTL_PASSWORD_MAX 4096

/**
 * Ask for the password of @user twice on the terminal that is standard
 * input, without echo (echo is restored if a signal ends the program
 * meanwhile). Prompts go to standard error.
 * @return 0 and *out set (free with vg_ctl_password_free); -ENOTTY if
 *         standard input is not a terminal; -ENODATA for an empty password;
 *         -EKEYREJECTED if the two differ; -E2BIG if too long; -EIO.
 */
int vg_ctl_prompt_password(const char *user, char **out);

/**
 * Read one line from standard input as the password (a final "\n" or
 * "\r\n" is not part of it).
 * @return 0 and *out set; -ENODATA for an empty password; -E2BIG; -EIO.
 */
int vg_ctl_read_password_stdin(char **out);

/** Wipe and free a password. NULL is fine. */
void vg_ctl_password_free(char *password);

#endif /* VG_CTL_PASSWORD_H */
