"""The page's one inline script: each platform's official base-code shape, wrapped as a loader, plus the flow.

No value is ever spliced into this JavaScript: ids, events, script URLs and the destination reach it only as
JSON in a data block (`cfg`), parsed with JSON.parse. Each loader is `function (src, pixels)` where `src` is
the platform's script URL (or its local stand-in) and `pixels` is `[{id, events}]`. The base code is the
platform's published snippet, unchanged except that it takes `src` and the ids from its arguments:

* Meta: `fbq` stub + fbevents.js; `fbq('init', id)` per pixel, then `fbq('trackSingle', id, event)`.
* TikTok: `ttq` stub + events.js per pixel (`ttq.load(id)`); `ttq.instance(id).page()` for PageView,
  `.track(event)` otherwise.
* Google tag: `dataLayer` + `gtag('js')` + gtag.js; `gtag('config', id, {send_page_view: false})` then
  `gtag('event', event, {send_to: id})`, so only the configured events are sent.
* LinkedIn Insight Tag: `_linkedin_partner_id` / `_linkedin_data_partner_ids` + insight.min.js (page view on load).
* X: `twq` stub + uwt.js; `twq('config', id)` (page view).
"""

from __future__ import annotations

from collections.abc import Iterable

LOADERS: dict[str, str] = {
    "meta": """function(src,pixels){
!function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function(){n.callMethod?
n.callMethod.apply(n,arguments):n.queue.push(arguments)};if(!f._fbq)f._fbq=n;
n.push=n;n.loaded=!0;n.version='2.0';n.queue=[];t=b.createElement(e);t.async=!0;
t.src=v;s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}(window,
document,'script',src);
pixels.forEach(function(p){fbq('init',p.id);});
pixels.forEach(function(p){p.events.forEach(function(ev){fbq('trackSingle',p.id,ev);});});
}""",
    "tiktok": """function(src,pixels){
!function(w,d,t){w.TiktokAnalyticsObject=t;var ttq=w[t]=w[t]||[];
ttq.methods=["page","track","identify","instances","debug","on","off","once","ready","alias","group",
"enableCookie","disableCookie","holdConsent","revokeConsent","grantConsent"],
ttq.setAndDefer=function(t,e){t[e]=function(){t.push([e].concat(Array.prototype.slice.call(arguments,0)))}};
for(var i=0;i<ttq.methods.length;i++)ttq.setAndDefer(ttq,ttq.methods[i]);
ttq.instance=function(t){for(var e=ttq._i[t]||[],n=0;n<ttq.methods.length;n++)ttq.setAndDefer(e,ttq.methods[n]);
return e},ttq.load=function(e,n){var r=src;ttq._i=ttq._i||{},ttq._i[e]=[],ttq._i[e]._u=r,ttq._t=ttq._t||{},
ttq._t[e]=+new Date,ttq._o=ttq._o||{},ttq._o[e]=n||{};n=d.createElement("script");n.type="text/javascript",
n.async=!0,n.src=r+"?sdkid="+e+"&lib="+t;e=d.getElementsByTagName("script")[0];e.parentNode.insertBefore(n,e)};
pixels.forEach(function(p){ttq.load(p.id);});
pixels.forEach(function(p){var one=ttq.instance(p.id);
p.events.forEach(function(ev){ev==="PageView"?one.page():one.track(ev);});});
}(window,document,'ttq');
}""",
    "google_tag": """function(src,pixels){
var s=document.createElement('script');s.async=true;s.src=src;document.head.appendChild(s);
window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}
gtag('js',new Date());
pixels.forEach(function(p){gtag('config',p.id,{send_page_view:false});});
pixels.forEach(function(p){p.events.forEach(function(ev){gtag('event',ev,{send_to:p.id});});});
}""",
    "linkedin": """function(src,pixels){
window._linkedin_partner_id=pixels[0].id;
window._linkedin_data_partner_ids=window._linkedin_data_partner_ids||[];
pixels.forEach(function(p){window._linkedin_data_partner_ids.push(p.id);});
(function(l){if(!l){window.lintrk=function(a,b){window.lintrk.q.push([a,b])};
window.lintrk.q=[]}var s=document.getElementsByTagName("script")[0];
var b=document.createElement("script");b.type="text/javascript";b.async=true;
b.src=src;s.parentNode.insertBefore(b,s);})(window.lintrk);
}""",
    "x": """function(src,pixels){
!function(e,t,n,s,u,a){e.twq||(s=e.twq=function(){s.exe?s.exe.apply(s,arguments):s.queue.push(arguments);
},s.version='1.1',s.queue=[],u=t.createElement(n),u.async=!0,u.src=src,
a=t.getElementsByTagName(n)[0],a.parentNode.insertBefore(u,a))}(window,document,'script');
pixels.forEach(function(p){twq('config',p.id);});
}""",
}

# The flow: consent first when the page has a consent section; pixels only after accept; decline continues at
# once; after loading, a countdown (announced through the role=status region) and location.replace, so the
# back button skips this page. A loader that throws must not hold the visitor here.
_FLOW = """var cfg=JSON.parse(document.getElementById("nimriz-interstitial").textContent);
var status=document.getElementById("status");
function go(){window.location.replace(cfg.destination);}
function say(text){status.textContent="Continuing "+text+"\\u2026";}
function countDown(ms){var end=Date.now()+ms;(function tick(){var left=end-Date.now();
if(left<=0){say("to "+cfg.host);go();return;}
var s=Math.ceil(left/1000);say("to "+cfg.host+" in "+s+(s===1?" second":" seconds"));
setTimeout(tick,left-(s-1)*1000);})();}
function loadPixels(){
cfg.platforms.forEach(function(p){try{loaders[p.name](p.src,p.pixels);}catch(e){}});
countDown(cfg.delay_ms);}
var consent=document.getElementById("consent");
if(!consent){loadPixels();return;}
function choose(accepted){
document.getElementById("choices").hidden=true;document.getElementById("continue").focus();
if(accepted){loadPixels();}else{say("without ad pixels");go();}}
document.getElementById("accept").addEventListener("click",function(){choose(true);});
document.getElementById("decline").addEventListener("click",function(){choose(false);});
document.getElementById("title").focus();"""


def page_script(platform_names: Iterable[str]) -> str:
    """The inline script for a page loading these platforms (only their loaders are included)."""
    loaders = ",\n".join(f'"{name}":{LOADERS[name]}' for name in platform_names)
    return f'(function(){{"use strict";\nvar loaders={{{loaders}}};\n{_FLOW}\n}})();'
