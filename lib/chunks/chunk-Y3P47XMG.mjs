import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a as r}from"./chunk-5BEN6JAN.mjs";import{statfsSync as t}from"node:fs";async function s(e){try{let n=t(e);return n.bavail*n.bsize}catch{return}}r(s,"freeBytes");function o(e,n){return n?Math.ceil(e/3):e}r(o,"dumpNeeds");export{s as a,o as b};
