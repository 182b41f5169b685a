// The search page's one script: Pagefind's interface in #search (no inline script: the
// site's pages allow scripts from the site only).
window.addEventListener("DOMContentLoaded", () => {
  new PagefindUI({ element: "#search", showSubResults: true, showImages: false });
});
