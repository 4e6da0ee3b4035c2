// vmgate: the login page.
import { errorOf } from '/static/common.js';

const form = document.getElementById('login');
const error = document.getElementById('error');

form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.textContent = '';
    const body = new URLSearchParams({ user: form.user.value, password: form.password.value });
    let r;
    try {
        r = await fetch('/api/login', {
            method: 'POST',
            credentials: 'same-origin',
            headers: { 'X-Requested-With': 'vmgate' },
            body,
        });
    } catch (e) {
        error.textContent = 'The gateway cannot be reached';
        return;
    }
    form.password.value = '';
    if (r.ok) {
        location.assign('/vms');
        return;
    }
    error.textContent = await errorOf(r, 'Authentication failed');
});
