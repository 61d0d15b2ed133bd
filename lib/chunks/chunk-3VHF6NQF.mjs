import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{i as s,k as i}from"./chunk-LK4VIWW5.mjs";import{a as n}from"./chunk-5BEN6JAN.mjs";var o="[postmortem]";function c(r){return s(r,{urlUser:!0})}n(c,"redact");function a(r){return r.replace(/\r/g,"\\r").replace(/\n/g,"\\n")}n(a,"oneLine");function m(r,g=[]){let t=n(e=>i(c(a(e)),g),"clean");return{info:n(e=>r(`${o} ${t(e)}
`),"info"),warn:n(e=>r(`${o} WARNING: ${t(e)}
`),"warn"),error:n(e=>r(`${o} ERROR: ${t(e)}
`),"error")}}n(m,"createEventLog");export{c as a,m as b};
