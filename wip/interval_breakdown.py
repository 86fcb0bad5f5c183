import numpy as np, sys, warnings
warnings.filterwarnings('ignore')
sys.argv=['x']
from rt import corners, at_risk
from lifelines.datasets import load_waltons
from nen_bayes.reconstruct import reconstruct_arm
df=load_waltons(); sub=df[df.group=='control']; time=sub['T'].values.astype(float); ev=sub['E'].values.astype(int)
t,s,km=corners(time,ev)
rt=np.arange(0,t.max(),10); rn=at_risk(time,rt)
r=reconstruct_arm(t,s,rt,rn).data
edges=np.r_[rt, np.inf]
for a,b in zip(edges[:-1],edges[1:]):
    m=(time>=a)&(time<b); mr=(r.time>=a)&(r.time<b)
    print(a, 'orig ev', ev[m].sum(), 'cen', (1-ev[m]).sum(), '| rec ev', r.event[mr].sum(), 'cen', (1-r.event[mr]).sum(), '| risk', (time>=a).sum(), (r.time>=a).sum())
print(sorted(set(time[ev==0])))
