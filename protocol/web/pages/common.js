// vmgate: what the pages share.

// The session's user and CSRF token, or a trip to the login page.
export async function session() {
    const r = await fetch('/api/session', { credentials: 'same-origin' });
    if (r.status === 401) {
        location.assign('/login');
        throw new Error('not logged in');
    }
    if (!r.ok)
        throw new Error('The gateway cannot be reached');
    return r.json();
}

// A POST with the session's CSRF token; the body is a form.
export function post(path, csrf, fields) {
    return fetch(path, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'X-CSRF-Token': csrf },
        body: new URLSearchParams(fields || {}),
    });
}

export async function errorOf(r, fallback) {
    try {
        const j = await r.json();
        return j.error || fallback;
    } catch (e) {
        return fallback;
    }
}
