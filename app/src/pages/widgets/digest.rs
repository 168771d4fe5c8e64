//! A pushed image's digest: short (`sha256:` and 12 hex digits) where
//! space is tight, the whole digest on hover and on Copy.

use leptos::prelude::*;

/// Hex digits shown of a digest.
const SHORT_HEX: usize = 12;

/// `sha256:0123456789ab`: the algorithm and the first hex digits.
pub fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algorithm, hex)) => format!("{algorithm}:{}", &hex[..hex.len().min(SHORT_HEX)]),
        None => digest.chars().take(SHORT_HEX).collect(),
    }
}

#[component]
pub fn Digest(#[prop(into)] digest: String) -> impl IntoView {
    let copied = RwSignal::new(None::<bool>);
    let full = StoredValue::new(digest.clone());
    view! {
        <span class="inline-flex items-center gap-1" data-testid="digest" data-digest=digest.clone()>
            <code class="font-mono text-xs text-slate-700" title=digest.clone()>{short_digest(&digest)}</code>
            <button type="button" class="text-xs text-sky-700 underline" aria-label=format!("Copy digest {digest}")
                on:click=move |_| copy_to_clipboard(full.get_value(), copied)>
                {move || match copied.get() {
                    Some(true) => "copied",
                    Some(false) => "copy failed",
                    None => "copy",
                }}
            </button>
        </span>
    }
}

/// Copies a text to the clipboard (browser only) and reports whether it worked.
pub fn copy_to_clipboard(text: String, copied: RwSignal<Option<bool>>) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::closure::Closure;
        use wasm_bindgen::JsValue;

        let clipboard = window().navigator().clipboard();
        // Missing outside secure contexts (plain http on a remote host).
        if JsValue::from(clipboard.clone()).is_undefined() {
            copied.set(Some(false));
            return;
        }
        let done = Closure::<dyn FnMut(JsValue)>::new(move |_| copied.set(Some(true)));
        let failed = Closure::<dyn FnMut(JsValue)>::new(move |_| copied.set(Some(false)));
        let _ = clipboard.write_text(&text).then2(&done, &failed);
        // Called once per click; the promise owns them from here.
        done.forget();
        failed.forget();
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (text, copied);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_is_shortened_to_twelve_hex_digits() {
        let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
        assert_eq!(short_digest(&digest), "sha256:0123456789ab");
        assert_eq!(short_digest("sha256:abc"), "sha256:abc");
    }
}
