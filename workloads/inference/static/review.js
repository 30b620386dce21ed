/* global document, fetch, URL, URLSearchParams, location, sessionStorage */
// The operator's review page: the queue from GET /review/queue, each photo from
// GET /review/photo/:id, decisions to POST /review/:id, all with the operator token
// (from the URL fragment #token=…, which browsers never send to a server, or typed in).
(() => {
  const status = document.getElementById('status');
  const queue = document.getElementById('queue');
  const login = document.getElementById('login');
  let token = new URLSearchParams(location.hash.slice(1)).get('token') || sessionStorage.getItem('cv-review-token') || '';

  const call = async (url, options = {}) => {
    const res = await fetch(url, { ...options, headers: { ...(options.headers || {}), authorization: `Bearer ${token}` } });
    if (res.status === 401) {
      login.hidden = false;
      throw new Error('the operator token was not accepted');
    }
    if (!res.ok) throw new Error((await res.json().catch(() => ({}))).message || `${res.status}`);
    return res;
  };

  const show = (item) => {
    const node = document.getElementById('item').content.firstElementChild.cloneNode(true);
    const votes = item.votes.map((v) => `${v.label} ×${v.voters.length}`).join(', ') || 'none';
    node.querySelector('.guess').textContent = `The model said: ${item.model.predicted || '(no model)'}`;
    node.querySelector('.votes').textContent = `Users' labels (one vote per person): ${votes}; ${item.members} upload(s) of this photo`;
    node.querySelector('.why').textContent = item.reason;
    const input = node.querySelector('.label');
    input.value = item.votes[0] ? item.votes[0].label : item.model.predicted || '';
    call(item.photoUrl)
      .then((r) => r.blob())
      .then((b) => (node.querySelector('img').src = URL.createObjectURL(b)))
      .catch(() => undefined);
    const decide = async (decision) => {
      try {
        const body = decision === 'approve' ? { decision, label: input.value.trim() } : { decision };
        await call(`/review/${encodeURIComponent(item.id)}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        node.remove();
        status.textContent = `${decision === 'approve' ? `Approved as ${body.label}` : 'Rejected'}.`;
      } catch (err) {
        status.textContent = `Not saved: ${err.message}`;
      }
    };
    node.querySelector('.approve').addEventListener('click', () => decide('approve'));
    node.querySelector('.reject').addEventListener('click', () => decide('reject'));
    queue.appendChild(node);
  };

  const load = async () => {
    queue.replaceChildren();
    try {
      const { items } = await (await call('/review/queue')).json();
      sessionStorage.setItem('cv-review-token', token);
      login.hidden = true;
      status.textContent = items.length ? `${items.length} photo(s) awaiting a decision.` : 'Nothing to review.';
      items.forEach(show);
    } catch (err) {
      status.textContent = err.message;
    }
  };

  document.getElementById('use-token').addEventListener('click', () => {
    token = document.getElementById('token').value.trim();
    load();
  });
  if (token) load();
  else login.hidden = false;
})();
