// TypeDoc plugin: the index page already shows the project name as its title, so the
// README's own first heading ("# heartmonitor") would appear twice; drop it there only.
import { Converter } from 'typedoc';

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_END, (context) => {
    const first = context.project.readme?.[0];
    if (first?.kind === 'text') first.text = first.text.replace(/^#\s+[^\n]*\n+/, '');
  });
}
