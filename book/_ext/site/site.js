/*
 * The course site's behaviour on every page (book/_ext/tconv_book.py links it).
 *
 * A region that scrolls sideways (a display equation or an explorer's grid wider than a
 * phone) is reachable by keyboard while, and only while, it overflows: then it is a Tab stop
 * that scrolls; otherwise it is no Tab stop at all.  Re-checked after MathJax typesets, when
 * the window is resized and when an explorer redraws.
 */
(function () {
  "use strict";

  var SCROLLERS = 'div.math mjx-container[display="true"], .tconv-scroll, pre.tconv-formula';
  var timer = null;

  function markScrollers() {
    Array.prototype.forEach.call(document.querySelectorAll(SCROLLERS), function (node) {
      if (node.scrollWidth > node.clientWidth + 1) {
        node.tabIndex = 0;
      } else {
        node.removeAttribute("tabindex");
      }
    });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(markScrollers, 150);
  }

  function start() {
    window.addEventListener("resize", later);
    var main = document.getElementById("main-content");
    if (main) new MutationObserver(later).observe(main, { subtree: true, childList: true });
    var mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) mj.startup.promise.then(markScrollers);
    markScrollers();
  }

  window.tconvMarkScrollers = markScrollers;
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
