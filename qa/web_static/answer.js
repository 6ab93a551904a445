// The answer area's behaviour (gr.HTML's js_on_load, `element` is that area): runs once when it mounts;
// one delegated listener serves every answer shown later. Copying is done in the browser:
// navigator.clipboard where allowed, else a hidden textarea + execCommand.
const fallbackCopy = (text) => {
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed'; area.style.top = '-1000px'; area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
  area.remove();
  return ok;
};
const copyText = async (text) => {
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(text); return true; } catch (e) { /* fall back below */ }
  }
  return fallbackCopy(text);
};
const flash = (button, text) => {
  if (!button.dataset.qaLabel) button.dataset.qaLabel = button.textContent;
  button.textContent = text;
  clearTimeout(button._qaTimer);
  button._qaTimer = setTimeout(() => { button.textContent = button.dataset.qaLabel; }, 2000);
};
// The source viewer: the cited article's exact text (JSON in its hidden .qa-src) put in the dialog as
// text nodes, the quote in a <mark> cut at the card's offsets (JavaScript string indices), then
// scrolled into view. Nothing from the article is ever parsed as HTML here.
const openSource = (card) => {
  const result = card.closest('.qa-result');
  const src = result && result.querySelector('.qa-src[data-qa-src-key="' + card.dataset.qaSrc + '"]');
  const dialog = result && result.querySelector('dialog.qa-viewer');
  if (!src || !dialog) return;
  let text;
  try { text = JSON.parse(src.dataset.qaText); } catch (e) { return; }
  const from = Number(card.dataset.qaFrom), to = Number(card.dataset.qaTo);
  if (!(0 <= from && from <= to && to <= text.length)) return;
  dialog.querySelector('.qa-viewer-n').textContent = '[' + card.dataset.n + ']';
  dialog.querySelector('.qa-viewer-title').textContent = src.querySelector('.qa-src-title').textContent;
  const meta = src.querySelector('.qa-meta');
  dialog.querySelector('.qa-viewer-meta').replaceChildren(...(meta ? [meta.cloneNode(true)] : []));
  const mark = document.createElement('mark');
  mark.id = 'qa-viewer-mark';
  mark.tabIndex = -1;
  mark.textContent = text.slice(from, to);
  dialog.querySelector('.qa-article-text').replaceChildren(
    document.createTextNode(text.slice(0, from)), mark, document.createTextNode(text.slice(to)));
  if (!dialog.open) dialog.showModal();
  mark.scrollIntoView({block: 'center', inline: 'nearest'});
};
element.setAttribute('aria-live', 'polite');
element.addEventListener('click', async (event) => {
  if (event.target.matches && event.target.matches('dialog.qa-viewer')) {  // a click on the backdrop
    event.target.close();
    return;
  }
  const ref = event.target.closest('[data-qa-cite]');
  if (ref && element.contains(ref)) {
    event.preventDefault();
    const card = element.querySelector('#qa-cite-' + ref.dataset.qaCite);
    if (card) {
      card.scrollIntoView({behavior: 'smooth', block: 'center'});
      card.classList.add('qa-flash');
      setTimeout(() => card.classList.remove('qa-flash'), 1500);
    }
    return;
  }
  const button = event.target.closest('button[data-qa-action]');
  if (!button || !element.contains(button)) return;
  const markdown = button.dataset.qaMd || '';
  if (button.dataset.qaAction === 'source') {
    const card = button.closest('.qa-card');
    if (card) openSource(card);
  } else if (button.dataset.qaAction === 'close') {
    const dialog = button.closest('dialog');
    if (dialog) dialog.close();
  } else if (button.dataset.qaAction === 'copy') {
    const ok = await copyText(markdown);
    flash(button, ok ? button.dataset.qaDone : button.dataset.qaFailed);
  } else if (button.dataset.qaAction === 'download') {
    const blob = new Blob([markdown], {type: 'text/markdown;charset=utf-8'});
    const url = URL.createObjectURL(blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = button.dataset.qaFilename || 'answer.md';
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 5000);
  }
});
