// vmgate: the console page, on noVNC's core from the system's novnc package.
import RFB from '/novnc/core/rfb.js';
import { session, post, errorOf } from '/static/common.js';

const vm = new URLSearchParams(location.search).get('vm') || '';
const screen = document.getElementById('screen');
const status = document.getElementById('status');
const cad = document.getElementById('cad');
let rfb = null;

function show(text, ended) {
    status.textContent = text;
    status.classList.toggle('ended', !!ended);
    document.body.dataset.state = ended ? 'ended' : (rfb ? 'connected' : 'connecting');
}

// The gateway says why the console ended in the WebSocket's close reason.
function closed(ev) {
    cad.disabled = true;
    let why = ev.reason;
    if (!why)
        why = ev.code === 1006 ? 'The connection to the gateway was lost' : 'The console ended';
    show('Session ended: ' + why, true);
}

async function main() {
    document.getElementById('vm').textContent = vm;
    document.title = 'vmgate: ' + vm;
    const s = await session();
    const r = await post('/api/ticket', s.csrf, { vm });
    if (!r.ok) {
        show('Cannot open the console: ' + await errorOf(r, 'refused'), true);
        return;
    }
    const { ticket } = await r.json();
    // The ticket goes in the first message, never in a URL.
    const ws = new WebSocket(`wss://${location.host}/ws/console`);
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('close', closed);
    ws.addEventListener('open', () => {
        ws.send(ticket);
        rfb = new RFB(screen, ws, { shared: true });
        rfb.scaleViewport = false;
        rfb.resizeSession = false;
        rfb.addEventListener('connect', () => {
            cad.disabled = false;
            show('Connected', false);
            rfb.focus();
        });
    }, { once: true });
}

cad.addEventListener('click', () => {
    if (rfb)
        rfb.sendCtrlAltDel();
});
document.getElementById('fullscreen').addEventListener('click', () => {
    screen.requestFullscreen().catch(() => {});
});

main().catch((e) => show(String(e.message || e), true));
