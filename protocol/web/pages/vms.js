// vmgate: the VM picker; thumbnails refresh while the page is open.
import { session, post, errorOf } from '/static/common.js';

const REFRESH_MS = 5000;
const list = document.getElementById('vms');
const error = document.getElementById('error');
let csrf = '';

function describe(vm) {
    const via = vm.pool ? `pool ${vm.pool}` : 'assigned';
    const taken = vm.taken ? ', in use by someone else' : '';
    return `${vm.state}, ${vm.role}, ${via}${taken}`;
}

async function thumbnail(vm, img) {
    const r = await fetch('/api/thumb?vm=' + encodeURIComponent(vm.name), { credentials: 'same-origin' });
    if (r.status !== 200)
        return;
    const url = URL.createObjectURL(await r.blob());
    const old = img.src;
    img.src = url;
    img.dataset.loaded = String(Date.now());
    if (old.startsWith('blob:'))
        URL.revokeObjectURL(old);
}

function card(vm) {
    const li = document.createElement('li');
    li.dataset.vm = vm.name;
    let pic;
    if (vm.state === 'running') {
        pic = document.createElement('img');
        pic.className = 'thumb';
        pic.alt = `screen of ${vm.name}`;
    } else {
        pic = document.createElement('div');
        pic.className = 'nothumb';
        pic.textContent = vm.state;
    }
    const name = document.createElement('div');
    name.className = 'name';
    const a = document.createElement('a');
    a.href = '/console?vm=' + encodeURIComponent(vm.name);
    a.textContent = vm.name;
    a.className = 'open';
    name.appendChild(a);
    const meta = document.createElement('div');
    meta.className = 'meta';
    meta.textContent = describe(vm);
    li.append(pic, name, meta);
    return li;
}

async function refresh() {
    let r;
    try {
        r = await fetch('/api/vms', { credentials: 'same-origin' });
    } catch (e) {
        error.textContent = 'The gateway cannot be reached';
        return;
    }
    if (r.status === 401) {
        location.assign('/login');
        return;
    }
    if (!r.ok) {
        error.textContent = await errorOf(r, 'The list of VMs cannot be read');
        return;
    }
    error.textContent = '';
    const vms = await r.json();
    const known = new Map([...list.children].map((li) => [li.dataset.vm, li]));
    const fresh = [];
    for (const vm of vms) {
        const old = known.get(vm.name);
        const li = card(vm);
        // Keep the picture already shown while the new one loads.
        if (old) {
            const oldImg = old.querySelector('img.thumb');
            const img = li.querySelector('img.thumb');
            if (oldImg && img) {
                img.src = oldImg.src;
                img.dataset.loaded = oldImg.dataset.loaded || '';
            }
        }
        fresh.push(li);
        const img = li.querySelector('img.thumb');
        if (img)
            thumbnail(vm, img);
    }
    list.replaceChildren(...fresh);
    document.getElementById('none').hidden = vms.length > 0;
}

async function main() {
    const s = await session();
    csrf = s.csrf;
    document.getElementById('who').textContent = s.user;
    document.getElementById('logout').addEventListener('click', async () => {
        await post('/api/logout', csrf);
        location.assign('/login');
    });
    await refresh();
    setInterval(refresh, REFRESH_MS);
}

main();
